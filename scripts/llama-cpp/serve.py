"""llama-cpp-python's OpenAI server, unchanged, with one observer: every completion it
serves is written to LOG as a JSON line with llama.cpp's own token counts (the prompt as the
server tokenized it, the output text tokenized again, and why generation stopped).

    python serve.py MODEL.gguf PORT LOG
"""
import json
import sys

import llama_cpp
import uvicorn
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings

model, port, log = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
served = llama_cpp.Llama.create_completion


def observed(self, prompt, *args, **kwargs):
    n_prompt = len(self.tokenize(prompt.encode(), add_bos=False, special=False))
    chunks = served(self, prompt, *args, **kwargs)

    def note(text, reason):
        n_out = len(self.tokenize(text.encode(), add_bos=False, special=False))
        log.write(json.dumps({"prompt_tokens": n_prompt, "output_tokens": n_out,
                              "finish_reason": reason, "max_tokens": kwargs.get("max_tokens")}) + "\n")

    if not kwargs.get("stream"):
        c = chunks["choices"][0]
        note(c["text"], c["finish_reason"])
        return chunks

    def stream():
        # A client may close the connection once it has the end marker: the note is
        # written however the stream ends.
        text, reason = [], None
        try:
            for chunk in chunks:
                for c in chunk.get("choices", []):
                    text.append(c.get("text") or "")
                    reason = c.get("finish_reason") or reason
                yield chunk
        finally:
            note("".join(text), reason)

    return stream()


llama_cpp.Llama.create_completion = observed
app = create_app(
    server_settings=ServerSettings(host="127.0.0.1", port=port),
    model_settings=[ModelSettings(model=model, model_alias="tiny", n_ctx=2048, verbose=False)],
)
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
