// The architecture registry (model/model_registry.h): every file under model/archs/ is
// registered by the generated list, BindModel picks by config().arch, and an unknown
// architecture is refused with a message naming it and the ones weft runs.
#include "model/model_registry.h"

#include <gtest/gtest.h>

#include "support/golden.h"

namespace weft {
namespace {

TEST(ModelRegistry, ListsEveryArchitectureFile) {
  for (const char* name : {"llama", "qwen2", "qwen3", "gemma2", "gemma3"}) {
    const ArchDefinition* def = FindArchitecture(name);
    ASSERT_NE(def, nullptr) << name;
    EXPECT_EQ(def->name, name);
    EXPECT_FALSE(def->families.empty()) << name;
  }
  EXPECT_EQ(FindArchitecture("gpt2"), nullptr);
  EXPECT_NE(ArchitectureNames().find("llama, "), std::string::npos) << ArchitectureNames();
}

TEST(ModelRegistry, UnknownArchitectureNamesItAndTheKnownOnes) {
  ModelFile::Parts parts;
  parts.format = ModelFormat::kGguf;
  parts.path = "mystery.gguf";
  parts.config.arch = "mamba";
  auto file = std::make_shared<const ModelFile>(std::move(parts));
  auto model = BindModel(file);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("'mamba'"), std::string::npos) << model.status().message();
  EXPECT_NE(model.status().message().find("qwen3"), std::string::npos) << model.status().message();
}

TEST(ModelRegistry, BindsByTheFilesArchitecture) {
  auto stories = OpenModelFile(testing::SharedDir() + "/models/stories260K/stories260K.gguf");
  ASSERT_TRUE(stories.ok()) << stories.status().message();
  auto llama = BindModel(*stories);
  ASSERT_TRUE(llama.ok()) << llama.status().message();
  EXPECT_EQ((*llama)->architecture(), "llama");
  EXPECT_EQ((*llama)->kv_layout().n_layers, (*stories)->config().n_layer);
  EXPECT_EQ((*llama)->LayerMatrices().size(), 7 * static_cast<size_t>((*stories)->config().n_layer));

  auto path = testing::SynthModel("tinyq", "Q8_0");
  ASSERT_TRUE(path.ok()) << path.status().message();
  auto qwen_file = OpenModelFile(*path);
  ASSERT_TRUE(qwen_file.ok()) << qwen_file.status().message();
  auto qwen = BindModel(*qwen_file);
  ASSERT_TRUE(qwen.ok()) << qwen.status().message();
  EXPECT_EQ((*qwen)->architecture(), (*qwen_file)->config().arch);
  EXPECT_NE((*qwen)->architecture(), "llama");
}

}  // namespace
}  // namespace weft
