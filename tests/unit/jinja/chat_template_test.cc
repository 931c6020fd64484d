// Language features of the chat-template interpreter (expected values checked against
// Python Jinja2 3.1 configured as transformers does), safety limits and error
// reporting. The byte-for-byte golden renders are in chat_template_golden_test.cc.
#include "jinja/chat_template.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace weft {
namespace {

ChatTemplateOptions FixedClock() {
  ChatTemplateOptions o;
  std::tm tm{};
  tm.tm_year = 126;
  tm.tm_mday = 2;
  tm.tm_hour = 3;
  tm.tm_min = 4;
  tm.tm_sec = 5;
  tm.tm_wday = 5;
  o.now = tm;
  return o;
}

nlohmann::ordered_json Ctx() {
  return nlohmann::ordered_json::parse(R"({
    "d": {"a": 1, "b": [1, 2]}, "l": [3, 1, 2], "s": "Hello World", "n": null,
    "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
    "u": "ünï", "f": 1.5})");
}

StatusOr<std::string> Render(const std::string& src, const ChatTemplateOptions& o = FixedClock()) {
  WEFT_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::Parse(src, o));
  return t.Render(Ctx());
}

std::string R(const std::string& src) {
  auto out = Render(src);
  EXPECT_TRUE(out.ok()) << src << "\n" << out.status().ToString();
  return out.ok() ? *out : "<error: " + out.status().ToString() + ">";
}

std::string Err(const std::string& src, const ChatTemplateOptions& o = FixedClock()) {
  auto out = Render(src, o);
  EXPECT_FALSE(out.ok()) << src << " rendered: " << (out.ok() ? *out : "");
  return out.ok() ? "" : out.status().message();
}

TEST(ChatTemplate, Arithmetic) {
  EXPECT_EQ(R("{{ 1 + 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ 7 / 2 }}|{{ 4 / 2 }}|"
              "{{ 7.5 // 2 }}|{{ -7.5 % 2 }}"),
            "3|3|-4|2|1024|3.5|2.0|3.0|0.5");
  EXPECT_EQ(R("{{ -2 ** 2 }}|{{ 2 ** -1 }}|{{ 1 - 2 - 3 }}|{{ 2 * 3 + 4 }}|{{ 'a' ~ 2 * 3 }}"), "4|0.5|-4|10|a6");
  EXPECT_NE(Err("{{ 'a' ~ 2 + 3 }}").find("can only concatenate str"), std::string::npos);  // ~ binds tighter than +
  EXPECT_EQ(R("{{ 1e3 }}|{{ 1_000 }}|{{ 0.1 + 0.2 }}|{{ 1e100 }}|{{ 1.5e-7 }}|{{ f * 2 }}|{{ true + 1 }}"),
            "1000.0|1000|0.30000000000000004|1e+100|1.5e-07|3.0|2");
  EXPECT_EQ(R("{{ \"a\" ~ 1 ~ none ~ true }}|{{ \"ab\" * 3 }}|{{ [1] * 2 }}|{{ \"%s and %d\" % (\"x\", 3) }}"),
            "a1NoneTrue|ababab|[1, 1]|x and 3");
}

TEST(ChatTemplate, LiteralsAndPrinting) {
  EXPECT_EQ(R("{{ [1, 'a', none, true, 1.5, (1,), {'k': [2]}] }}"), "[1, 'a', None, True, 1.5, (1,), {'k': [2]}]");
  EXPECT_EQ(R("{{ 'it''s' }}|{{ \"a\\tb\\u00e9\\x41\" }}|{{ 'a' 'b' }}|{{ True }}|{{ None }}"), "its|a\tbéA|ab|True|None");
  EXPECT_EQ(R("{{ [\"it's\"] }}|{{ ['a\"b'] }}|{{ ['\\n'] }}"), "[\"it's\"]|['a\"b']|['\\n']");
}

TEST(ChatTemplate, SubscriptsAndSlices) {
  EXPECT_EQ(R("{{ s[1:3] }}|{{ s[::-1] }}|{{ s[-3:] }}|{{ l[::2] }}|{{ l[5:] }}|{{ u[1:] }}|{{ u|length }}|{{ u[::-1] }}"),
            "el|dlroW olleH|rld|[3, 2]|[]|nï|3|ïnü");
  EXPECT_EQ(R("{{ d.a }}|{{ d['b'][1] }}|{{ d.missing }}|{{ d.missing is defined }}|{{ d.get('z', 5) }}|{{ d.b.0 }}"),
            "1|2||False|5|1");
  EXPECT_EQ(R("{{ msgs[0].role }}|{{ msgs[-1]['content'] }}|{{ msgs[5] }}|{{ 'abc'[-1] }}"), "user|yo||c");
}

TEST(ChatTemplate, ForLoops) {
  EXPECT_EQ(R("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=[1, 2];");
  EXPECT_EQ(R("{% for x in l if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }}{{ ',' if not loop.last }}{% endfor %}"),
            "1/2:3,2/2:2");
  EXPECT_EQ(R("{% for x in l %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.previtem }}"
              "{{ loop.nextitem }}{{ loop.cycle('a','b') }}|{% endfor %}"),
            "03True1a|12False32b|21False1a|");
  EXPECT_EQ(R("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(R("{% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}"
              "{% endfor %}"),
            "3");
  EXPECT_EQ(R("{% set x = 1 %}{% for i in l %}{% set x = i %}{% endfor %}{{ x }}"), "1");  // loop scope
  EXPECT_EQ(R("{% for i in range(3) %}{% if i == 1 %}{% set x = 5 %}{% endif %}{{ x }}{% endfor %}"), "5");
  EXPECT_EQ(R("{% for x in d %}{{ x }}{% endfor %}|{% for x in 'ab' %}{{ x }}.{% endfor %}"), "ab|a.b.");
}

TEST(ChatTemplate, SetNamespaceAndBlocks) {
  EXPECT_EQ(R("{% set ns = namespace(c=0) %}{% for x in l %}{% set ns.c = ns.c + x %}{% endfor %}{{ ns.c }}"), "6");
  EXPECT_EQ(R("{% set y %}inner {{ s }}{% endset %}[{{ y }}]"), "[inner Hello World]");
  EXPECT_EQ(R("{% set y | upper %}inner {{ s }}{% endset %}[{{ y }}]"), "[INNER HELLO WORLD]");
  EXPECT_EQ(R("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(R("{% filter upper %}abc {{ s }}{% endfilter %}"), "ABC HELLO WORLD");
  EXPECT_EQ(R("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}{{ a }}"), "3");
  EXPECT_EQ(R("{% set xs = [] %}{% do xs.append(1) %}{{ xs.append(2) }}{{ xs }}"), "None[1, 2]");
}

TEST(ChatTemplate, Macros) {
  EXPECT_EQ(R("{% macro m(a, b=2, c='x') %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }}|{{ m(1, 3) }}|{{ m(1, c='z') }}"),
            "1-2-x|1-3-x|1-2-z");
  EXPECT_EQ(R("{% macro m(a) %}<{{ caller(a) }}>{% endmacro %}{% call(v) m(5) %}got {{ v }}{% endcall %}"), "<got 5>");
  EXPECT_EQ(R("{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, x=3) }}"), "(1, 2){'x': 3}");
  EXPECT_EQ(R("{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}"), "54321");
  EXPECT_NE(Err("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}").find("takes not more than 1 argument"),
            std::string::npos);
}

TEST(ChatTemplate, ExpressionsAndTests) {
  EXPECT_EQ(R("{{ 'a' if false }}|{{ 'a' if true else 'b' }}|{{ 1 if n is none else 2 }}"), "|a|1");
  EXPECT_EQ(R("{{ 1 in l }}|{{ 5 not in l }}|{{ 'a' in d }}|{{ 'ell' in s }}|{{ 1 < 2 < 3 }}|{{ 3 > 2 > 5 }}"),
            "True|True|True|True|True|False");
  EXPECT_EQ(R("{{ n is none }}|{{ s is string }}|{{ 1 is number }}|{{ 1 is integer }}|{{ 1.0 is float }}|"
              "{{ d is mapping }}|{{ l is iterable }}|{{ l is sequence }}|{{ true is boolean }}|{{ 4 is even }}|"
              "{{ 3 is odd }}|{{ 9 is divisibleby 3 }}|{{ 'a' is equalto 'a' }}|{{ 'a' is eq 'a' }}|"
              "{{ n is sameas none }}|{{ 'abc' is lower }}|{{ 'ABC' is upper }}|{{ range is callable }}|"
              "{{ nope is undefined }}|{{ true is true }}|{{ false is false }}|{{ l is not none }}"),
            "True|True|True|True|True|True|True|True|True|True|True|True|True|True|True|True|True|True|True|True|True|"
            "True");
  EXPECT_EQ(R("{{ not n }}|{{ n or 'x' }}|{{ l and 'y' }}|{{ [1, 2] == [1, 2] }}|{{ 1 == 1.0 }}|{{ [1, 2] < [1, 3] }}"),
            "True|x|y|True|True|True");
}

TEST(ChatTemplate, Filters) {
  EXPECT_EQ(R("{{ '  a b  '|trim }}|{{ 'xxaxx'|trim('x') }}|{{ l|length }}|{{ l|join(', ') }}|{{ d|items|list }}"),
            "a b|a|3|3, 1, 2|[('a', 1), ('b', [1, 2])]");
  EXPECT_EQ(R("{{ nope|default('dflt') }}|{{ ''|default('e', true) }}|{{ l|first }}|{{ l|last }}|"
              "{{ s|replace('o', '0') }}|{{ s|upper }}|{{ 'hello world'|capitalize }}|{{ 'hello wORLD-x'|title }}"),
            "dflt|e|3|2|Hell0 W0rld|HELLO WORLD|Hello world|Hello World-X");
  EXPECT_EQ(R("{{ 12|string }}|{{ '42'|int + 1 }}|{{ '4.5'|float }}|{{ 'x'|int }}|{{ 3.9|int }}|{{ 'abc'|list }}"),
            "12|43|4.5|0|3|['a', 'b', 'c']");
  EXPECT_EQ(R("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}|"
              "{{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='content')|list }}|"
              "{{ l|map('string')|join('-') }}|{{ l|select('odd')|list }}|{{ l|reject('odd')|list }}"),
            "['hi']|['yo']|3-1-2|[3, 1]|[2]");
  EXPECT_EQ(R("{{ ['a','B','b','A']|unique|list }}|{{ msgs|sort(attribute='role', reverse=true)|map(attribute='role')|join }}|"
              "{{ l|sort }}|{{ l|reverse|list }}|{{ ['b', 'A', 'a']|sort }}"),
            "['a', 'B']|userassistant|[1, 2, 3]|[2, 1, 3]|['A', 'a', 'b']");
  EXPECT_EQ(R("{{ -3|abs }}|{{ 2.567|round(2) }}|{{ 2.5|round }}|{{ 2.1|round(method='ceil') }}|"
              "{{ '<a href=\"x\">'|e }}|{{ 'one two  three'|wordcount }}"),
            "3|2.57|2.0|3.0|&lt;a href=&#34;x&#34;&gt;|3");
  EXPECT_EQ(R("{{ \"a\\nb\\n\\nc\"|indent(2) }}|{{ \"a\\nb\"|indent(2, true) }}|{{ \"a\\n\\nb\"|indent(2, blank=true) }}"),
            "a\n  b\n\n  c|  a\n  b|a\n  \n  b");
  EXPECT_EQ(R("{{ \"'\"|safe + \"'\" }}"), "'&#39;");  // Markup + str escapes the str
  EXPECT_EQ(R("{{ '%s-%d'|format('a', 2) }}|{{ d|dictsort(reverse=true) }}|{{ l|batch(2)|list }}|{{ l|min }}|{{ l|sum }}"),
            "a-2|[('b', [1, 2]), ('a', 1)]|[[3, 1], [2]]|1|6");
}

TEST(ChatTemplate, ToJson) {
  EXPECT_EQ(R("{{ d|tojson }}"), "{\"a\": 1, \"b\": [1, 2]}");
  EXPECT_EQ(R("{{ d|tojson(indent=2) }}"), "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ]\n}");
  EXPECT_EQ(R("{{ \"é\\n\\\"\\u0001\"|tojson }}|{{ [none, true, 1.0]|tojson }}|{{ u|tojson }}"),
            "\"é\\n\\\"\\u0001\"|[null, true, 1.0]|\"ünï\"");
  EXPECT_NE(Err("{{ l|map('string')|tojson }}").find("Object of type generator is not JSON serializable"),
            std::string::npos);
}

TEST(ChatTemplate, Methods) {
  EXPECT_EQ(R("{{ s.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  hi '.lstrip() }}|{{ '  hi '.rstrip() }}|"
              "{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ s.startswith('He') }}|{{ s.endswith(('x', 'ld')) }}"),
            "Hello World|hi|hi |  hi|['a', 'b', '', 'c']|['a', 'b']|True|True");
  EXPECT_EQ(R("{{ s.replace('l', 'L', 2) }}|{{ 'ab cd'.title() }}|{{ s.find('o') }}|{{ s.count('o') }}|"
              "{{ '-'.join(['a','b']) }}|{{ '{} is {}'.format('x', 1) }}|{{ u|upper }}"),
            "HeLLo World|Ab Cd|4|2|a-b|x is 1|ÜNÏ");
  EXPECT_EQ(R("{{ d.keys()|list }}|{{ d.values()|list }}|{{ [1, 2].index(2) }}|{{ [1, 1].count(1) }}"),
            "['a', 'b']|[1, [1, 2]]|1|2");
}

TEST(ChatTemplate, Globals) {
  EXPECT_EQ(R("{{ range(5)|list }}|{{ range(1, 10, 3)|list }}|{{ range(5, 0, -2)|list }}|{{ dict(a=1, b=2) }}"),
            "[0, 1, 2, 3, 4]|[1, 4, 7]|[5, 3, 1]|{'a': 1, 'b': 2}");
  EXPECT_EQ(R("{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%d %b %Y') }}"), "2026-01-02 03:04:05|02 Jan 2026");
  EXPECT_EQ(R("{% set j = joiner('|') %}{% for x in l %}{{ j() }}{{ x }}{% endfor %}"), "3|1|2");
  EXPECT_EQ(R("{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}"), "aba");
}

TEST(ChatTemplate, WhitespaceControl) {
  EXPECT_EQ(R("{% for x in l %}\n  {{ x }}\n{% endfor %}"), "  3\n  1\n  2\n");
  EXPECT_EQ(R("{% for x in l -%}\n  {{ x }}\n{%- endfor %}"), "312");
  EXPECT_EQ(R("a\n  {%+ if true %}\nb\n  {% endif +%}\nc"), "a\n  b\n\nc");
  EXPECT_EQ(R("  {#- c #}  x  {#+ c +#}\ny"), "  x  \ny");
  EXPECT_EQ(R("{{- '  x  ' -}}   |   {{ 'y' }}"), "  x  |   y");
  EXPECT_EQ(R("{% raw %}{{ not parsed }}{% endraw %}"), "{{ not parsed }}");
  EXPECT_EQ(R("a\n"), "a");  // one trailing newline dropped, as Jinja2
  ChatTemplateOptions plain = FixedClock();
  plain.trim_blocks = plain.lstrip_blocks = false;
  EXPECT_EQ(*Render("  {% if true %}\nx{% endif %}", plain), "  \nx");
}

TEST(ChatTemplate, UndefinedSemantics) {
  EXPECT_EQ(R("{{ nope }}|{{ nope|length }}|{% for x in nope %}a{% endfor %}|{{ nope|trim }}|{{ 'a' ~ nope }}"), "|0|||a");
  EXPECT_NE(Err("{{ nope.foo }}").find("UndefinedError: 'nope' is undefined"), std::string::npos);
  EXPECT_NE(Err("{{ d.missing.foo }}").find("'dict object' has no attribute 'missing'"), std::string::npos);
  EXPECT_NE(Err("{{ nope + 1 }}").find("'nope' is undefined"), std::string::npos);
  EXPECT_NE(Err("{{ 'a' + d }}").find("can only concatenate str (not \"dict\") to str"), std::string::npos);
  EXPECT_NE(Err("{% for x in n %}{% endfor %}").find("'NoneType' object is not iterable"), std::string::npos);
}

TEST(ChatTemplate, RaiseException) {
  auto out = Render("line\n{{ raise_exception('Only user and assistant roles are supported!') }}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("TemplateError: Only user and assistant roles are supported!"), std::string::npos);
}

TEST(ChatTemplate, SyntaxErrorsHaveLineAndColumn) {
  struct Case {
    const char* src;
    const char* want;
  };
  const Case cases[] = {
      {"ok\n{{ a.b(1 }}", "2:10"},
      {"{% if %}", "1:7"},
      {"x\n\n  {% if true %}", "3:16"},
      {"{% endif %}", "unknown tag 'endif'"},
      {"{{ 'unterminated }}", "1:4: unterminated string"},
      {"{{ x | nosuchfilter }}", "1:8: no filter named 'nosuchfilter'"},
      {"{{ x is nosuchtest }}", "no test named 'nosuchtest'"},
      {"{% include 'x' %}", "unsupported tag 'include'"},
      {"{{ }}", "1:4"},
      {"{% break %}", "'break' outside of a loop"},
      {"{{ [1, 2 }}", "1:10"},
      {"{# never closed", "unterminated comment"},
      {"{{ 1 +* 2 }}", "1:7"},
  };
  for (const Case& c : cases) {
    auto t = ChatTemplate::Parse(c.src);
    ASSERT_FALSE(t.ok()) << c.src;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.want), std::string::npos) << c.src << " -> " << t.status().message();
  }
}

TEST(ChatTemplate, RuntimeErrorsHaveLocation) {
  EXPECT_NE(Err("a\nb {{ 1 / 0 }}").find("ZeroDivisionError: division by zero (template line 2:"), std::string::npos);
}

TEST(ChatTemplateLimits, LoopStepsBounded) {
  auto out = Render("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(out.status().message().find("steps"), std::string::npos);
}

TEST(ChatTemplateLimits, MacroRecursionBounded) {
  auto out = Render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(out.status().message().find("nested deeper"), std::string::npos);
}

TEST(ChatTemplateLimits, OutputBounded) {
  auto out = Render("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(out.status().message().find("output larger than"), std::string::npos);
}

TEST(ChatTemplateLimits, RangeAndRepetitionBounded) {
  EXPECT_NE(Err("{{ range(10**12)|length }}").find("range()"), std::string::npos);
  EXPECT_NE(Err("{{ 'a' * 10**9 }}").find("limit exceeded"), std::string::npos);
  EXPECT_NE(Err("{{ [1] * 10**9 }}").find("limit exceeded"), std::string::npos);
  EXPECT_NE(Err("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")
                .find("limit exceeded"),
            std::string::npos);
  EXPECT_NE(Err("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}")
                .find("limit exceeded"),
            std::string::npos);
  EXPECT_NE(Err("{{ 10 ** 100 }}").find("overflow"), std::string::npos);
}

TEST(ChatTemplateLimits, SelfReferenceAndDeepNesting) {
  EXPECT_NE(Err("{% set l = [] %}{% do l.append(l) %}{{ l }}").find("limit exceeded"), std::string::npos);
  EXPECT_NE(Err("{% set d = {} %}{% do d.update({'self': d}) %}{{ d|tojson }}").find("Circular"), std::string::npos);
  // A list nested 100k deep is created, measured and dropped without recursion.
  EXPECT_EQ(R("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}"
              "{% set ns.l = none %}ok"),
            "ok");
  EXPECT_NE(Err("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(Err("{{ " + std::string(3000, '[') + std::string(3000, ']') + " }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(Err("{{ " + std::string(3000, '-') + "1 }}").find("nested too deeply"), std::string::npos);
  EXPECT_NE(Err("{{ " + std::string(3000, '[') + " }}").find("1:"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 3000; ++i) ifs += "{% if 1 %}";
  EXPECT_NE(Err(ifs).find("nested too deeply"), std::string::npos);
}

TEST(ChatTemplateLimits, LongOperatorChainsAndDeepEvaluation) {
  // Left-nested chains would recurse when evaluated and freed: bounded at parse time.
  std::string plus = "{{ 1";
  std::string attrs = "{{ x";
  std::string filters = "{{ x";
  for (int i = 0; i < 100000; ++i) {
    plus += "+1";
    attrs += ".a";
    filters += "|trim";
  }
  EXPECT_NE(Err(plus + " }}").find("nested too deeply"), std::string::npos);
  EXPECT_NE(Err(attrs + " }}").find("nested too deeply"), std::string::npos);
  EXPECT_NE(Err(filters + " }}").find("nested too deeply"), std::string::npos);
  // Macro recursion multiplies expression depth: bounded at run time.
  const std::string deep = std::string(60, '[') + "f(n - 1)" + std::string(60, ']');
  EXPECT_NE(Err("{% macro f(n) %}{% if n > 0 %}{{ " + deep + " }}{% endif %}{% endmacro %}{{ f(60) }}")
                .find("evaluation nested deeper"),
            std::string::npos);
}

TEST(ChatTemplateLimits, CustomLimits) {
  ChatTemplateOptions o = FixedClock();
  o.limits.max_output_bytes = 10;
  EXPECT_NE(Err("{{ 'x' * 11 }}", o).find("limit exceeded"), std::string::npos);
  o = FixedClock();
  o.max_source_bytes = 4;
  EXPECT_FALSE(ChatTemplate::Parse("{{ 1 }}", o).ok());
}

TEST(ChatTemplate, ConcurrentRendersShareOneTemplate) {
  auto t = ChatTemplate::Parse(
      "{% for m in messages %}<{{ m.role }}>{{ m.content|trim }}{% endfor %}{% if add_generation_prompt %}<a>{% endif %}");
  ASSERT_TRUE(t.ok());
  ChatTemplate::ChatInputs in;
  in.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": " hi "}])");
  in.add_generation_prompt = true;
  std::vector<std::thread> threads;
  std::vector<std::string> outs(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 200; ++k) outs[i] = t->RenderChat(in).value();
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& o : outs) EXPECT_EQ(o, "<user>hi<a>");
}

TEST(ChatTemplate, BuildContext) {
  ChatTemplate::ChatInputs in;
  in.messages = nlohmann::ordered_json::array();
  in.bos_token = "<s>";
  in.extra["date_string"] = "x";
  auto ctx = ChatTemplate::BuildContext(in);
  EXPECT_FALSE(ctx.contains("tools"));
  EXPECT_EQ(ctx["bos_token"], "<s>");
  EXPECT_EQ(ctx["date_string"], "x");
  auto t = ChatTemplate::Parse("{{ tools is defined }}{{ bos_token }}{{ date_string }}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t->RenderChat(in), "False<s>x");
}

}  // namespace
}  // namespace weft
