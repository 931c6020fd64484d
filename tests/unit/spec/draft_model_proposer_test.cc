// DraftModelProposer on its own: its drafts are the draft model's greedy continuation
// (checked against a SingleSequence run of the same model), whatever the history of its
// per-sequence KV (rollback after partial acceptance, a different token, eviction from a
// full pool, a batch of sequences at once), and it gives its blocks back. Also the
// --spec parser's draft:/self: forms and the self-speculative calibration.
#include "spec/draft_model_proposer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "eval/single_sequence.h"
#include "spec/self_calibration.h"
#include "spec/spec_config.h"
#include "support/golden.h"
#include "support/test_model.h"

namespace weft {
namespace {

using testing::TestModel;

const TestModel& Stories() {
  static const TestModel m = testing::LoadTestModel(testing::SharedDir() + "/models/stories260K/stories260K.gguf");
  return m;
}

// The model's greedy continuation of `tokens`, k tokens, one sequence at a time.
std::vector<int32_t> Greedy(std::shared_ptr<const Model> model, std::vector<int32_t> tokens, int k) {
  RunnerOptions ro;
  ro.threads = 1;
  ro.max_tokens_per_step = 256;
  ro.max_logit_rows = 1;
  auto runner = ModelRunner::Create(model, ro).value();
  std::vector<int32_t> out;
  const auto n_vocab = static_cast<size_t>(model->config().n_vocab);
  std::vector<float> logits(n_vocab);
  for (int i = 0; i < k; ++i) {
    auto seq = SingleSequence::Create(runner.get(), static_cast<int64_t>(tokens.size())).value();
    const int32_t last = static_cast<int32_t>(tokens.size()) - 1;
    EXPECT_TRUE(seq->Append(tokens, std::span<const int32_t>(&last, 1), logits.data()).ok());
    const auto t = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(t);
    tokens.push_back(t);
  }
  return out;
}

// The model's argmax after each of tokens[0 .. n-2], reading the text (in passes of 64
// tokens, as the calibration does, so that the sums are the same).
std::vector<int32_t> TeacherForced(std::shared_ptr<const Model> model, const std::vector<int32_t>& tokens) {
  RunnerOptions ro;
  ro.threads = 1;
  ro.max_tokens_per_step = 64;
  ro.max_logit_rows = 64;
  auto runner = ModelRunner::Create(model, ro).value();
  auto seq = SingleSequence::Create(runner.get(), static_cast<int64_t>(tokens.size())).value();
  const auto n_vocab = static_cast<size_t>(model->config().n_vocab);
  std::vector<int32_t> rows(tokens.size() - 1);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int32_t>(i);
  std::vector<float> logits(rows.size() * n_vocab);
  EXPECT_TRUE(seq->Append(std::span<const int32_t>(tokens).first(rows.size()), rows, logits.data()).ok());
  std::vector<int32_t> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    const float* r = logits.data() + i * n_vocab;
    out.push_back(static_cast<int32_t>(std::max_element(r, r + n_vocab) - r));
  }
  return out;
}

std::unique_ptr<DraftModelProposer> Make(std::shared_ptr<const Model> m, int64_t blocks, int max_seqs = 8) {
  DraftModelOptions o;
  o.threads = 1;
  o.max_model_len = 512;
  o.max_seqs = max_seqs;
  o.max_draft = 8;
  o.max_tokens_per_step = 32;  // prompts of more than 32 tokens catch up in chunks
  auto p = DraftModelProposer::Create(std::move(m), "draft", o).value();
  EXPECT_TRUE(p->ReserveKv(blocks).ok());
  return p;
}

std::vector<int32_t> Prompt(const std::string& text) { return Stories().tokenizer->Encode(text); }

TEST(DraftModelProposer, DraftsTheDraftModelsGreedyContinuation) {
  auto p = Make(Stories().model, 64);
  const auto prompt = Prompt(
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day she saw "
      "a big red ball.");
  ASSERT_GT(prompt.size(), 32u);  // catches up in two chunks
  std::vector<int32_t> d;
  p->Propose(prompt, static_cast<int32_t>(prompt.size()), 6, d);
  EXPECT_EQ(d, Greedy(Stories().model, prompt, 6));
}

TEST(DraftModelProposer, StaysInSyncThroughAcceptanceRejectionAndEviction) {
  auto p = Make(Stories().model, 64);
  std::vector<int32_t> tokens = Prompt("One day, a big bird");
  // Simulate verification outcomes: all accepted (+ a bonus token), two accepted then a
  // different token, none accepted; each next draft must equal a fresh greedy run.
  const std::vector<int> accepted = {6, 2, 0, 3, 6, 1};
  for (size_t step = 0; step < accepted.size(); ++step) {
    std::vector<int32_t> d;
    const DraftSlot slot{7, tokens, 5, 6, &d};
    p->ProposeBatch(std::span<const DraftSlot>(&slot, 1));
    ASSERT_EQ(d, Greedy(Stories().model, tokens, 6)) << "step " << step;
    const int a = accepted[step];
    tokens.insert(tokens.end(), d.begin(), d.begin() + a);
    // The token after: the target's (here: a token the draft did not predict, or a bonus).
    const int32_t other = a < 6 ? (d[static_cast<size_t>(a)] + 1) % 512 : 13;
    tokens.push_back(std::max(3, other));
  }
  EXPECT_EQ(p->num_tracked(), 1);
  p->Release(7);
  EXPECT_EQ(p->num_tracked(), 0);
  EXPECT_EQ(p->num_free_blocks(), p->num_blocks());
}

TEST(DraftModelProposer, ABatchDraftsWhatEachSequenceAloneWould) {
  auto p = Make(Stories().model, 64);
  const std::vector<std::vector<int32_t>> prompts = {
      Prompt("Lily and Tom went to the park."), Prompt("The cat sat on the mat. The dog"),
      Prompt("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day "
             "she saw a big red ball."),
      Prompt("Sam")};
  std::vector<std::vector<int32_t>> drafts(prompts.size());
  std::vector<DraftSlot> slots;
  for (size_t i = 0; i < prompts.size(); ++i) {
    slots.push_back({100 + i, prompts[i], static_cast<int32_t>(prompts[i].size()), static_cast<int32_t>(2 + i),
                     &drafts[i]});
  }
  p->ProposeBatch(slots);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(drafts[i], Greedy(Stories().model, prompts[i], static_cast<int>(2 + i))) << "sequence " << i;
  }
  EXPECT_EQ(p->num_tracked(), 4);
}

TEST(DraftModelProposer, AFullPoolEvictsTheLeastRecentlyUsedSequence) {
  // 4 blocks of 16: room for two of these sequences (~20 tokens + 3 draft tokens each).
  auto p = Make(Stories().model, 4);
  const auto a = Prompt("Lily and Tom went to the park. Lily and Tom went to the park. Lily");
  const auto b = Prompt("The cat sat on the mat. The dog sat on the mat. The cat sat");
  const auto c = Prompt("Mom said, \"Let's go to the park.\" Lily said, \"Let's go");
  for (int round = 0; round < 2; ++round) {
    for (const auto* t : {&a, &b, &c}) {
      std::vector<int32_t> d;
      const DraftSlot slot{reinterpret_cast<uintptr_t>(t), *t, static_cast<int32_t>(t->size()), 4, &d};
      p->ProposeBatch(std::span<const DraftSlot>(&slot, 1));
      EXPECT_EQ(d, Greedy(Stories().model, *t, 4));
    }
  }
  EXPECT_GE(p->evictions(), 4);  // each of the 6 calls after the first two evicts
  EXPECT_LT(p->num_free_blocks(), p->num_blocks());
}

TEST(DraftModelProposer, ASkippedLayerModelDraftsItsOwnGreedyContinuation) {
  auto draft = *Stories().model->WithoutLayers(std::vector<int64_t>{1, 3});
  EXPECT_EQ(draft->config().n_layer, 3);
  auto p = Make(draft, 64);
  EXPECT_EQ(p->KvBytesPerToken() * 5, Stories().model->config().KvBytesPerToken(2) * 3);
  const auto prompt = Prompt("The sun was hot and");
  std::vector<int32_t> d;
  p->Propose(prompt, static_cast<int32_t>(prompt.size()), 5, d);
  EXPECT_EQ(d, Greedy(draft, prompt, 5));
  // Skipping nothing is the model itself.
  auto same = *Stories().model->WithoutLayers({});
  EXPECT_EQ(Greedy(same, prompt, 5), Greedy(Stories().model, prompt, 5));
}

TEST(SpecConfig, ParsesDraftAndSelf) {
  auto d = ParseSpecConfig("draft:stories260K");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->method, SpecMethod::kDraft);
  EXPECT_EQ(d->draft_model, "stories260K");
  EXPECT_EQ(d->num_draft, 4);
  auto h = ParseSpecConfig("draft:hf:owner/repo:6");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->draft_model, "hf:owner/repo");
  EXPECT_EQ(h->num_draft, 6);
  EXPECT_EQ(SpecConfigName(*h), "draft:hf:owner/repo:6");
  auto s = ParseSpecConfig("self:7-9,3,5:5");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->method, SpecMethod::kSelf);
  EXPECT_EQ(s->skip_layers, (std::vector<int64_t>{3, 5, 7, 8, 9}));
  EXPECT_EQ(s->num_draft, 5);
  EXPECT_EQ(SpecConfigName(*s), "self:3,5,7-9:5");
  EXPECT_EQ(LayerSetText({1, 2}), "1,2");
  for (const char* bad : {"draft", "draft:", "self:", "self:a", "self:3-1", "self:2:17", "draft:m:0", "tree:4"}) {
    EXPECT_FALSE(ParseSpecConfig(bad).ok()) << bad;
  }
}

TEST(SelfCalibration, PicksLayersByAgreementAndEstimatesSpeedup) {
  std::vector<int32_t> text = Prompt(
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw "
      "a big red ball. She wanted to play with it. Lily ran to the ball and kicked it. The ball went up high.");
  SelfCalibrationOptions o;
  o.threads = 1;
  o.max_skip = 3;
  const auto rows = *CalibrateSelfSpeculation(Stories().model, text, o);
  ASSERT_EQ(rows.size(), 3u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].skip.size(), i + 1);
    EXPECT_GE(rows[i].agreement, 0);
    EXPECT_LE(rows[i].agreement, 1);
    EXPECT_LT(rows[i].cost, 1);
    if (i > 0) {  // greedy: each set extends the previous one
      EXPECT_TRUE(std::includes(rows[i].skip.begin(), rows[i].skip.end(), rows[i - 1].skip.begin(),
                                rows[i - 1].skip.end()));
      EXPECT_LT(rows[i].cost, rows[i - 1].cost);
    }
  }
  // The first row's layer is the best single layer to skip: no other single layer agrees
  // more, and its agreement is the one measured here by hand (teacher-forced argmax).
  const std::vector<int32_t> reference = TeacherForced(Stories().model, text);
  double best_single = 0;
  for (int64_t l = 0; l < 5; ++l) {
    const std::vector<int32_t> pred = TeacherForced(*Stories().model->WithoutLayers(std::vector<int64_t>{l}), text);
    int same = 0;
    for (size_t i = 0; i < pred.size(); ++i) same += pred[i] == reference[i] ? 1 : 0;
    const double a = static_cast<double>(same) / static_cast<double>(pred.size());
    best_single = std::max(best_single, a);
    if (rows[0].skip == std::vector<int64_t>{l}) {
      EXPECT_DOUBLE_EQ(rows[0].agreement, a);
    }
  }
  EXPECT_DOUBLE_EQ(rows[0].agreement, best_single);
  EXPECT_NEAR(EstimatedSpeedup(1.0, 0.0, 4), 5.0, 1e-9);
  EXPECT_NEAR(EstimatedSpeedup(0.0, 0.5, 1), 1.0 / 1.5, 1e-9);
  EXPECT_NEAR(EstimatedSpeedup(0.5, 0.0, 2), 1.75, 1e-9);
}

}  // namespace
}  // namespace weft
