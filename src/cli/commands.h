// Each `weft` subcommand lives in its own file and registers itself on the app here.
// A command's callback returns the process exit code through `exit_code`.
#pragma once

namespace CLI {
class App;
}

namespace weft::cli {

void RegisterInfoCommand(CLI::App& app, int* exit_code);
void RegisterTokenizeCommand(CLI::App& app, int* exit_code);
void RegisterRunCommand(CLI::App& app, int* exit_code);
void RegisterLogitsCommand(CLI::App& app, int* exit_code);
void RegisterPerplexityCommand(CLI::App& app, int* exit_code);
void RegisterTemplateCommand(CLI::App& app, int* exit_code);
void RegisterBenchCommand(CLI::App& app, int* exit_code);
// `weft bench serve`, a subcommand of bench (called by RegisterBenchCommand).
void RegisterBenchServeCommand(CLI::App& bench, int* exit_code);
void RegisterServeCommand(CLI::App& app, int* exit_code);
void RegisterChatCommand(CLI::App& app, int* exit_code);
void RegisterQuantizeCommand(CLI::App& app, int* exit_code);
void RegisterSpecCalibrateCommand(CLI::App& app, int* exit_code);
void RegisterImatrixCommand(CLI::App& app, int* exit_code);

}  // namespace weft::cli
