// GBNF front end: grammars in llama.cpp's dialect accept exactly their language (checked
// on the byte automaton), and malformed ones are refused with line:column.
#include "grammar/gbnf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "grammar/matcher.h"

namespace weft::grammar {
namespace {

using ::testing::HasSubstr;

struct Lang {
  std::shared_ptr<CompiledGrammar> g;
  bool Accepts(std::string_view text) const {
    const uint32_t s = g->Advance(g->initial_state(), text);
    return s != kDeadState && g->CanEnd(s);
  }
};

Lang Compile(std::string_view text) {
  auto g = CompileGbnf(text);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  if (!g.ok()) return Lang{std::make_shared<CompiledGrammar>(*CompileGbnf("root ::= \"\""))};
  return Lang{std::make_shared<CompiledGrammar>(std::move(g).value())};
}

TEST(Gbnf, RecursiveArithmetic) {
  const Lang l = Compile(R"g(# arithmetic, recursive through parentheses
root ::= expr
expr ::= term (("+" | "-") term)*
term ::= num | "(" ws expr ws ")"
num  ::= [0-9]+
ws   ::= " "?
)g");
  for (const char* ok : {"1", "12+3", "(1+2)-3", "( (4) )", "((((7))))+1"}) EXPECT_TRUE(l.Accepts(ok)) << ok;
  for (const char* bad : {"", "+1", "1+", "(1", "(1))", "1  +2", "a"}) EXPECT_FALSE(l.Accepts(bad)) << bad;
}

TEST(Gbnf, ClassesEscapesAndRepetition) {
  const Lang l = Compile(
      "root ::= [a-cx] [^a-z\\n] \"\\t\\\"\\x41\\u00e9\" . [\\u4e00-\\u9fff]{1,2} (\"ab\"){2} \"z\"{2,} \"!\"{0,1}");
  EXPECT_TRUE(l.Accepts("a1\t\"A\xc3\xa9q\xe4\xb8\x80" "ababzz"));
  EXPECT_TRUE(l.Accepts("xQ\t\"A\xc3\xa9\xf0\x9f\x98\x80\xe4\xb8\x80\xe9\xbe\xa5" "ababzzzz!"));  // . = any code point
  EXPECT_FALSE(l.Accepts("d1\t\"A\xc3\xa9q\xe4\xb8\x80" "ababzz"));      // d not in [a-cx]
  EXPECT_FALSE(l.Accepts("aq\t\"A\xc3\xa9q\xe4\xb8\x80" "ababzz"));      // q in a-z
  EXPECT_FALSE(l.Accepts("a\n\t\"A\xc3\xa9q\xe4\xb8\x80" "ababzz"));     // \n excluded
  EXPECT_FALSE(l.Accepts("a1\t\"A\xc3\xa9q\xe4\xb8\x80" "abz"));         // ("ab"){2}
  EXPECT_FALSE(l.Accepts("a1\t\"A\xc3\xa9q\xe4\xb8\x80" "ababz"));       // "z"{2,}
  EXPECT_FALSE(l.Accepts("a1\t\"A\xc3\xa9q\xe4\xb8\x80\xe4\xb8\x80\xe4\xb8\x80" "ababzz"));  // {1,2}
}

TEST(Gbnf, MultiLineRulesAndComments) {
  const Lang l = Compile(R"(root ::=
    "yes" |
    "no"    # trailing comment
    | "maybe"
item ::= "unused"
)");
  for (const char* ok : {"yes", "no", "maybe"}) EXPECT_TRUE(l.Accepts(ok)) << ok;
  EXPECT_FALSE(l.Accepts("unused"));
  const Lang p = Compile("root ::= (\n  \"a\"\n  \"b\"\n)");
  EXPECT_TRUE(p.Accepts("ab"));
}

TEST(Gbnf, ErrorsNameTheProblem) {
  struct Bad { const char* text; const char* want; };
  const Bad bad[] = {
      {"item ::= \"a\"", "no 'root' rule"},
      {"root ::= item", "'item' is used but not defined"},
      {"root ::= \"a", "line 1 column 12: unterminated string literal"},
      {"root ::= [a-", "unterminated character class"},
      {"root ::= \"a\"\nroot ::= \"b\"", "line 2 column 10: the rule 'root' is defined twice"},
      {"root ::= x\nx ::= x \"a\" | \"b\"", "left"},
      {"root ::= \"a\"{3,1}", "maximum is below its minimum"},
      {"root ::= \"a\"{99999}", "above 10000"},
      {"root ::= \"\\q\"", "unknown escape"},
      {"root = \"a\"", "expected '::='"},
      {"root ::= (\"a\"", "expected ')'"},
  };
  for (const Bad& b : bad) {
    auto g = CompileGbnf(b.text);
    ASSERT_FALSE(g.ok()) << b.text;
    EXPECT_THAT(g.status().message(), HasSubstr(b.want)) << b.text;
  }
}

}  // namespace
}  // namespace weft::grammar
