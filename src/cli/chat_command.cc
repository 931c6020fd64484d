// weft chat MODEL: an interactive chat in the terminal on top of the Engine. Each turn
// renders the whole conversation with the model's chat template (or --chat-template
// FILE; a model without one is refused, as `weft serve` refuses chat), drops the
// oldest turns when the prompt and a full reply would not fit the context, and streams
// the reply to stdout. Ctrl-C cancels a reply (or, at the prompt, only prints a hint);
// Ctrl-D leaves. With stdin not a terminal, turns are read line by line without prompts,
// so that scripts can drive it; stdout then holds only the replies, one per turn, and
// notices go to stderr.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <random>

#include "cli/model_flags.h"
#include "cli/commands.h"
#include "cli/edit_line_reader.h"
#include "cli/compat_flags.h"
#include "cli/line_reader.h"
#include "weft/engine.h"
#include "tokenizer/chat_prompt.h"
#include "tokenizer/model_chat_template.h"
#include "tokenizer/tokenizer.h"

namespace weft::cli {
namespace {

// Set by the SIGINT handler, read by the chat loop. A signal handler can reach nothing
// else, so this one flag is process-wide; only `weft chat` installs the handler.
std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnSigint(int) { g_interrupted.store(true); }

struct Args {
  ModelFlags model_flags;
  std::string model, chat_template, system;
  int n_predict = 256;
  float temp = 0.8f, top_p = 0.95f, min_p = 0.05f;
  int top_k = 40;
  int64_t seed = -1;
  int64_t ctx = 0;
  float repeat_penalty = 1.0f;
  int threads = 0;
  bool ignore_eos = false;
};

struct Message {
  std::string role;  // "user" or "assistant"
  std::string content;
};

constexpr const char* kHelp =
    "Commands:\n"
    "  /reset          forget the conversation (the system message stays)\n"
    "  /system TEXT    set the system message (/system alone clears it)\n"
    "  /save FILE      write the conversation as JSON messages to FILE\n"
    "  /help           this list\n"
    "  /exit, /quit    leave (as Ctrl-D does)\n"
    "End a line with \\ to continue the message on the next line. Ctrl-C stops a reply.\n";

// Turn-ending control tokens of common chat formats. The ones the vocabulary has as
// control tokens stop a reply; the rest stop it as text when the template uses them.
constexpr const char* kEndOfTurnMarkers[] = {"<|im_end|>",   "<|eot_id|>",           "<|end|>",
                                             "<end_of_turn>", "<|END_OF_TURN_TOKEN|>", "<|endoftext|>"};

void Write(std::string_view text) {
  if (text.empty()) return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsSpace(s[b])) ++b;
  while (e > b && IsSpace(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// Prints a streamed reply without its leading and trailing whitespace: whitespace is
// held back until something else follows it.
class ReplyPrinter {
 public:
  void Feed(std::string_view delta) {
    for (char c : delta) {
      if (IsSpace(c)) {
        if (started_) held_ += c;
        continue;
      }
      started_ = true;
      if (!held_.empty()) {
        text_ += held_;
        Write(held_);
        held_.clear();
      }
      text_ += c;
      std::fputc(c, stdout);
    }
    std::fflush(stdout);
  }
  const std::string& text() const { return text_; }  // trimmed

 private:
  bool started_ = false;
  std::string held_, text_;
};

class ChatSession {
 public:
  ChatSession(const Args& a, Engine& engine, std::shared_ptr<const ModelChatTemplate> tmpl, bool interactive)
      : a_(a), engine_(engine), tok_(engine.tokenizer()), tmpl_(std::move(tmpl)), interactive_(interactive),
        reader_(STDIN_FILENO, &g_interrupted), system_(a.system) {
    // A terminal gets line editing and history; a pipe is read as it comes.
    if (interactive_) editor_ = std::make_unique<EditLineReader>(&g_interrupted);
    seed_ = a.seed >= 0 ? static_cast<uint64_t>(a.seed) : std::random_device{}();
    // Which end-of-turn markers this template uses: render a tiny conversation.
    nlohmann::ordered_json probe = nlohmann::ordered_json::array();
    probe.push_back({{"role", "user"}, {"content", "hi"}});
    probe.push_back({{"role", "assistant"}, {"content", "hello"}});
    auto text = tmpl_->Render(probe, nullptr, false);
    for (const char* marker : kEndOfTurnMarkers) {
      const int32_t id = tok_.PieceToId(marker);
      if (id >= 0 && tok_.IsControl(id)) {
        stop_ids_.push_back(id);
      } else if (text.ok() && text->find(marker) != std::string::npos) {
        stop_strings_.push_back(marker);
      }
    }
  }

  void Loop() {
    for (;;) {
      std::string text;
      const Input in = ReadMessage(&text);
      if (in == Input::kEof) break;
      if (in == Input::kInterrupted) {
        if (interactive_) std::fputs("\n(Ctrl-C stops a reply; Ctrl-D or /exit leaves)\n", stderr);
        continue;
      }
      const std::string msg = Trim(text);
      if (msg.empty()) continue;
      if (msg[0] == '/') {
        if (!Command(msg)) break;
        continue;
      }
      Turn(msg);
    }
    if (interactive_) Write("\n");
  }

 private:
  enum class Input { kMessage, kEof, kInterrupted };

  void ShowPrompt(const char* p) {
    if (interactive_) Write(p);
  }

  // One message: lines ending with a backslash continue it.
  Input ReadMessage(std::string* text) {
    text->clear();
    for (bool first = true;; first = false) {
      const char* prompt = first ? "> " : "... ";
      std::string line;
      LineReader::Result got;
      if (editor_) {
        got = editor_->ReadLine(prompt, &line);
      } else {
        ShowPrompt(prompt);
        got = reader_.ReadLine(&line);
      }
      switch (got) {
        case LineReader::Result::kLine:
          break;
        case LineReader::Result::kInterrupted:
          return Input::kInterrupted;
        case LineReader::Result::kError:
          std::fprintf(stderr, "weft chat: reading stdin: %s\n", reader_.error().c_str());
          return Input::kEof;
        case LineReader::Result::kEof:
          return first ? Input::kEof : Input::kMessage;
      }
      if (!line.empty() && line.back() == '\\') {
        line.pop_back();
        *text += line;
        *text += '\n';
        continue;
      }
      *text += line;
      return Input::kMessage;
    }
  }

  // False to leave.
  bool Command(const std::string& msg) {
    const size_t sp = msg.find_first_of(" \t\n");
    const std::string name = msg.substr(0, sp);
    const std::string arg = sp == std::string::npos ? "" : Trim(std::string_view(msg).substr(sp));
    if (name == "/exit" || name == "/quit") return false;
    if (name == "/help") {
      std::fputs(kHelp, stderr);
    } else if (name == "/reset") {
      messages_.clear();
      first_kept_ = 0;
      std::fputs("(conversation cleared)\n", stderr);
    } else if (name == "/system") {
      system_ = arg;
      std::fputs(arg.empty() ? "(system message cleared)\n" : "(system message set)\n", stderr);
    } else if (name == "/save") {
      if (arg.empty()) {
        std::fputs("weft chat: /save needs a file name\n", stderr);
      } else {
        Save(arg);
      }
    } else {
      std::fprintf(stderr, "weft chat: unknown command %s; /help lists the commands\n", name.c_str());
    }
    return true;
  }

  nlohmann::ordered_json Messages(size_t first, const std::string* user) const {
    nlohmann::ordered_json j = nlohmann::ordered_json::array();
    if (!system_.empty()) j.push_back({{"role", "system"}, {"content", system_}});
    for (size_t i = first; i < messages_.size(); ++i) {
      j.push_back({{"role", messages_[i].role}, {"content", messages_[i].content}});
    }
    if (user != nullptr) j.push_back({{"role", "user"}, {"content", *user}});
    return j;
  }

  void Save(const std::string& path) const {
    std::ofstream f(path);
    f << Messages(0, nullptr).dump(2) << "\n";
    f.close();
    if (!f) {
      std::fprintf(stderr, "weft chat: cannot write %s\n", path.c_str());
    } else {
      std::fprintf(stderr, "(saved %zu messages to %s)\n", messages_.size() + (system_.empty() ? 0 : 1), path.c_str());
    }
  }

  // The prompt tokens for the kept history from message `first` plus the new message.
  StatusOr<std::vector<int32_t>> PromptTokens(size_t first, const std::string& user) const {
    WEFT_ASSIGN_OR_RETURN(ChatPrompt prompt, BuildChatPrompt(*tmpl_, tok_, Messages(first, &user), nullptr, {}));
    return std::move(prompt.tokens);
  }

  // Drops the oldest turns until the prompt and a full reply fit; the prompt alone must.
  StatusOr<std::vector<int32_t>> FitPrompt(const std::string& user) {
    const int64_t max_len = engine_.max_model_len();
    size_t first = first_kept_;
    int dropped = 0;
    for (;;) {
      WEFT_ASSIGN_OR_RETURN(std::vector<int32_t> ids, PromptTokens(first, user));
      const auto n = static_cast<int64_t>(ids.size());
      const bool more = first + 2 <= messages_.size();
      if (n + a_.n_predict <= max_len || (!more && n + 1 <= max_len)) {
        if (dropped > 0) {
          std::fprintf(stderr, "(dropped %d old turn%s to fit the context)\n", dropped, dropped == 1 ? "" : "s");
        }
        first_kept_ = first;
        if (n + a_.n_predict > max_len) {
          std::fprintf(stderr, "(the context leaves room for a reply of %lld tokens only)\n",
                       static_cast<long long>(max_len - n));
        }
        return ids;
      }
      if (!more) {
        return OutOfRangeError(fmt::format("this message makes a prompt of {} tokens, but the context holds {}; "
                                           "write a shorter one",
                                           n, max_len));
      }
      first += 2;  // one user message and its reply
      ++dropped;
    }
  }

  void Turn(const std::string& user) {
    auto ids = FitPrompt(user);
    if (!ids.ok()) {
      std::fprintf(stderr, "weft chat: %s\n", ids.status().message().c_str());
      return;
    }
    GenerationRequest req;
    req.prompt_tokens = std::move(ids).value();
    SamplingParams& sp = req.sampling;
    sp.temperature = a_.temp;
    sp.top_k = a_.top_k;
    sp.top_p = a_.top_p;
    sp.min_p = a_.min_p;
    sp.max_tokens = a_.n_predict;
    sp.ignore_eos = a_.ignore_eos;
    sp.repetition_penalty = a_.repeat_penalty;
    sp.seed = seed_ + turns_++;
    sp.stop = stop_strings_;
    sp.stop_token_ids = stop_ids_;
    g_interrupted.store(false);
    auto submitted = engine_.Submit(std::move(req));
    if (!submitted.ok()) {
      std::fprintf(stderr, "weft chat: %s\n", submitted.status().message().c_str());
      return;
    }
    RequestStream& stream = **submitted;
    ReplyPrinter printer;
    bool cancelled = false;
    std::string error;
    for (;;) {
      if (!cancelled && g_interrupted.exchange(false)) {
        engine_.Cancel(stream);
        cancelled = true;
      }
      auto out = stream.Next(std::chrono::milliseconds(50));
      if (!out) {
        if (stream.finished()) break;
        continue;
      }
      printer.Feed(out->text_delta);
      if (out->finish == RequestFinish::kError) error = out->error;
    }
    Write("\n");
    if (cancelled) std::fputs("(reply interrupted)\n", stderr);
    if (!error.empty()) {
      std::fprintf(stderr, "weft chat: %s\n", error.c_str());
      return;
    }
    // An interrupted reply stays in the history as far as it got; an empty one takes
    // its question with it.
    if (cancelled && printer.text().empty()) return;
    messages_.push_back({"user", user});
    messages_.push_back({"assistant", printer.text()});
  }

  const Args& a_;
  Engine& engine_;
  const Tokenizer& tok_;
  std::shared_ptr<const ModelChatTemplate> tmpl_;  // never null
  const bool interactive_;
  LineReader reader_;
  std::unique_ptr<EditLineReader> editor_;  // on a terminal only
  std::string system_;
  std::vector<Message> messages_;  // the whole conversation since /reset: user, assistant, ...
  size_t first_kept_ = 0;          // messages before this were dropped to fit the context
  std::vector<std::string> stop_strings_;
  std::vector<int32_t> stop_ids_;
  uint64_t seed_ = 0;
  uint64_t turns_ = 0;
};

// The engine's threads must not take SIGINT (the chat loop on this thread handles it):
// they are created with it blocked and inherit that.
StatusOr<std::unique_ptr<Engine>> CreateEngineWithoutSigint(const EngineConfig& ec,
                                                            const OpenedModel& model) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  auto engine = OpenEngine(model, ec);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return engine;
}

Status Run(const Args& a) {
  WEFT_ASSIGN_OR_RETURN(OpenModelOptions open, OpenOptionsFrom(a.model_flags));
  WEFT_ASSIGN_OR_RETURN(OpenedModel m, OpenModel(a.model, open));
  const std::string& path = m.path;
  std::shared_ptr<const ModelChatTemplate> tmpl;
  auto loaded = LoadModelChatTemplate(*m.file, *m.tokenizer, a.chat_template);
  // No template: a clear error, as `weft serve` answers chat requests (400), not a
  // made-up format the model was never trained on.
  if (!loaded.ok()) return loaded.status();
  tmpl = std::move(loaded).value();

  EngineConfig ec;
  ec.scheduler.max_num_seqs = 1;  // one conversation; also caps the KV cache at one full context
  ec.max_model_len = a.ctx;
  ec.threads = a.threads;
  WEFT_ASSIGN_OR_RETURN(ec.kv_type, KvTypeFrom(a.model_flags));
  WEFT_RETURN_IF_ERROR(RefuseKvWindow(a.model_flags, "weft chat"));
  ec.free_model_window_blocks = !a.model_flags.keep_window_blocks;
  WEFT_ASSIGN_OR_RETURN(auto engine, CreateEngineWithoutSigint(ec, m));
  if (a.n_predict >= engine->max_model_len()) {
    return InvalidArgumentError(fmt::format("-n {} leaves no room for a prompt in the context of {} tokens",
                                            a.n_predict, engine->max_model_len()));
  }
  SamplingParams check;
  check.temperature = a.temp;
  check.top_k = a.top_k;
  check.top_p = a.top_p;
  check.min_p = a.min_p;
  check.max_tokens = a.n_predict;
  check.repetition_penalty = a.repeat_penalty;
  WEFT_RETURN_IF_ERROR(check.Validate(engine->model_config().n_vocab));

  const bool interactive = isatty(STDIN_FILENO) != 0;
  if (interactive) {
    std::fprintf(stderr, "weft chat: %s, %s, context %d tokens. /help lists the commands; Ctrl-D leaves.\n",
                 path.c_str(), ("chat template from " + tmpl->source).c_str(),
                 engine->max_model_len());
  }
  struct sigaction sa {}, old_sa{};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // writes are not cut short; LineReader polls the flag itself
  sigaction(SIGINT, &sa, &old_sa);
  ChatSession(a, *engine, tmpl, interactive).Loop();
  sigaction(SIGINT, &old_sa, nullptr);
  return Status::Ok();
}

}  // namespace

void RegisterChatCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("chat", "Chat with a model in the terminal (reads turns line by line from a pipe)");
  auto a = std::make_shared<Args>();
  AddModelOption(cmd, &a->model, "Model file, directory, name (e.g. tinyllama-v0) or hf:owner/repo")->required();
  AddModelFlags(cmd, &a->model_flags);
  cmd->add_option("--chat-template,--chat-template-file", a->chat_template,
                  "Jinja chat template file (default: the model's; a model without one needs this)");
  cmd->add_option("--system,--system-prompt", a->system, "System message (default: none; the template's own default if it has one)");
  cmd->add_option("-n,--n-predict", a->n_predict, "Tokens per reply at most (default: 256)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temp", a->temp, "Temperature; 0 = greedy (default: 0.8)");
  cmd->add_option("--top-k", a->top_k, "Keep the k most likely tokens; 0 = off (default: 40)");
  cmd->add_option("--top-p", a->top_p, "Nucleus sampling threshold (default: 0.95)");
  cmd->add_option("--min-p", a->min_p, "Drop tokens below min-p x the best token's probability (default: 0.05)");
  cmd->add_option("-s,--seed", a->seed, "Random seed; turn k uses seed + k (default: random)");
  cmd->add_option("-c,--ctx-size,--ctx,--max-model-len", a->ctx, "Context length in tokens, history included (default: the model's)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 30));
  cmd->add_option("--repeat-penalty,--repetition-penalty", a->repeat_penalty,
                  "Penalise tokens already in the conversation; 1 = off (default: 1)");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "Keep generating past the end-of-sequence token");
  cmd->add_option("-t,--threads", a->threads, "Compute threads (default: one per physical core)");
  AddGpuOnlyFlags(cmd);
  cmd->callback([a, exit_code] {
    Status s = Run(*a);
    if (!s.ok()) {
      std::fprintf(stderr, "weft chat: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
