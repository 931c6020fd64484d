// weft: one binary, many subcommands (info, tokenize, template, run, chat, serve, bench).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "base/log.h"
#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "weft/build_info.h"

int main(int argc, char** argv) {
  CLI::App app{"weft: LLM inference and serving on the CPU.\n"
               "Run `weft COMMAND --help` for the flags of a command."};
  app.set_version_flag("--version", std::string("weft ") + WEFT_VERSION + " (" + WEFT_GIT_COMMIT + ", " +
                                        WEFT_BUILD_TYPE + ")");
  app.require_subcommand(1);
  std::string log_level;
  app.add_option("--log-level", log_level, "Log verbosity: debug, info, warn, error, off (default: $WEFT_LOG or info)")
      ->check(CLI::IsMember({"debug", "info", "warn", "warning", "error", "off"}));
  app.parse_complete_callback([&] {
    weft::LogLevel level;
    if (!log_level.empty() && weft::ParseLogLevel(log_level, &level)) weft::SetLogLevel(level);
  });

  int exit_code = 0;
  weft::cli::RegisterInfoCommand(app, &exit_code);
  weft::cli::RegisterTokenizeCommand(app, &exit_code);
  weft::cli::RegisterRunCommand(app, &exit_code);
  weft::cli::RegisterLogitsCommand(app, &exit_code);
  weft::cli::RegisterPerplexityCommand(app, &exit_code);
  weft::cli::RegisterTemplateCommand(app, &exit_code);
  weft::cli::RegisterBenchCommand(app, &exit_code);
  weft::cli::RegisterServeCommand(app, &exit_code);
  weft::cli::RegisterChatCommand(app, &exit_code);
  weft::cli::RegisterQuantizeCommand(app, &exit_code);
  weft::cli::RegisterSpecCalibrateCommand(app, &exit_code);
  weft::cli::RegisterImatrixCommand(app, &exit_code);

  // llama.cpp's -ngl, -fa, -np, -sys become long flags CLI11 parses (cli/compat_flags.h).
  std::vector<std::string> args = weft::cli::NormalizeLlamaCppArgs(argc, argv);
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector last argument first
  app.name(argv[0]);  // the usage lines name the binary, as parse(argc, argv) would
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {
    const std::string message = weft::cli::UnknownFlagMessage(app);
    if (message.empty()) {
      std::fprintf(stderr, "weft: %s (run weft --help, or weft COMMAND --help)\n", e.what());
    } else {
      std::fprintf(stderr, "%s\n", message.c_str());
    }
    return 2;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "weft: %s (run weft --help, or weft COMMAND --help)\n", e.what());
    return e.get_exit_code() == 0 ? 2 : e.get_exit_code();
  }
  return exit_code;
}
