// A model file opened, bound and tokenised the way weft does it, for engine tests.
// Ownership: the struct shares everything it holds; copies are cheap.
#pragma once

#include <memory>
#include <string>

#include "loader/model_file.h"
#include "model/model_registry.h"
#include "tokenizer/tokenizer.h"

namespace weft::testing {

struct TestModel {
  std::shared_ptr<const ModelFile> file;
  std::shared_ptr<const Model> model;
  std::shared_ptr<const Tokenizer> tokenizer;
};

// Aborts the test binary (via StatusOr's check) when the file cannot be opened or bound.
inline TestModel LoadTestModel(const std::string& path) {
  TestModel m;
  m.file = *OpenModelFile(path);
  m.model = *BindModel(m.file);
  m.tokenizer = *LoadTokenizer(*m.file);
  return m;
}

}  // namespace weft::testing
