#!/usr/bin/env python3
"""Reference render of a chat template with Python Jinja2, as Hugging Face transformers
renders it: a sandboxed environment with trim_blocks, lstrip_blocks and loopcontrols,
tojson without ASCII escaping, raise_exception and strftime_now; the context is
messages, tools (when given), add_generation_prompt, bos_token and eos_token (as weft
passes them). Prints the prompt; when rendering fails (raise_exception, or e.g. a
method called on None) prints the error to stderr and exits 3.

usage: render_chat.py TOKENIZER_CONFIG_JSON CONVERSATION_JSON [--no-generation-prompt]
CONVERSATION_JSON is what `weft template --messages` reads: [messages] or
{"messages": [...], "tools": [...]}.
"""
import json
import sys
from datetime import datetime

from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def token_text(t):
    if isinstance(t, dict):
        return t.get("content")
    return t


def main():
    config = json.load(open(sys.argv[1], encoding="utf-8"))
    conversation = json.load(open(sys.argv[2], encoding="utf-8"))
    add_generation_prompt = "--no-generation-prompt" not in sys.argv[3:]
    messages, tools = conversation, None
    if isinstance(conversation, dict):
        messages, tools = conversation["messages"], conversation.get("tools")
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    context = {"messages": messages, "add_generation_prompt": add_generation_prompt}
    if tools is not None:
        context["tools"] = tools
    for name in ("bos_token", "eos_token"):
        text = token_text(config.get(name))
        if text is not None:
            context[name] = text
    try:
        out = env.from_string(config["chat_template"]).render(**context)
    except Exception as e:  # raise_exception, or the template failing on these messages
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(3)
    sys.stdout.write(out)


if __name__ == "__main__":
    main()
