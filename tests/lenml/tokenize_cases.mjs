// Prints the ids that tokenizers.js (@lenml/tokenizers, installed by tests/lenml/setup.sh
// as the @lenml/tokenizer-* packages' dependency) gives for each text of a cases file
// (texts separated by "\n__ggml_vocab_test__\n", as ../shared/golden/tokenizer/cases.inp),
// one line of space-separated ids per text, no special tokens added.
// usage: node tokenize_cases.mjs TOKENIZER_DIR CASES_FILE
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

const [dir, casesFile] = process.argv.slice(2);
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")),
});
let text = readFileSync(casesFile, "utf8");
if (text.endsWith("\n")) text = text.slice(0, -1);
for (const c of text.split("\n__ggml_vocab_test__\n")) {
  process.stdout.write(tokenizer.encode(c, { add_special_tokens: false }).join(" ") + "\n");
}
