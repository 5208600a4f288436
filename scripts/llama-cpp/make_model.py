"""A tiny llama model in GGUF with a byte-level BPE vocabulary, and the same vocabulary as
a Hugging Face `tokenizer.json` (what `bench load --tokenizer` reads).

Random weights, except an all-zero output matrix: every logit is 0, so greedy decoding
picks token 0 (" the") every step, a sequence the tokenizer reads back token for token.

    python make_model.py OUT_DIR    ->  OUT_DIR/tiny.gguf, OUT_DIR/tokenizer.json
"""
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFWriter, TokenType
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

WORDS = """the of and to in is that for it as with was on be at by this had not are but from
or have an they which one you were all we her she there would their will when who him been has
more if no out so what up can about into them some time could only other new these two may
first then do any like my now over such our man me even most made after also did many before
must through back years where much your way well down should because each just those people
how too""".split()


def byte_chars():
    """GPT-2's printable stand-ins for the 256 bytes, in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, (chr(c) for c in cs)))
    return [table[b] for b in range(256)]


def vocabulary():
    chars = byte_chars()
    space = chars[ord(" ")]
    merges, merged = [], []
    for w in WORDS:  # " the" = ((Ġ t) h) e, left to right
        piece = space
        for ch in w:
            if (piece, ch) not in merges:
                merges.append((piece, ch))
                merged.append(piece + ch)
            piece += ch
    first = space + "the"
    tokens = [first] + chars + [t for t in merged if t != first] + ["<|endoftext|>"]
    return tokens, merges


def main(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    tokens, merges = vocabulary()
    eos = len(tokens) - 1

    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens[:-1])}, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    assert tok.token_to_id("<|endoftext|>") == eos
    tok.save(str(out / "tokenizer.json"))

    n_vocab, n_embd, n_head, n_ff = len(tokens), 64, 4, 128
    w = GGUFWriter(str(out / "tiny.gguf"), "llama")
    w.add_name("bench-tiny")
    w.add_context_length(2048)
    w.add_embedding_length(n_embd)
    w.add_block_count(1)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_vocab_size(n_vocab)
    w.add_file_type(0)  # all f32
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([TokenType.NORMAL] * (n_vocab - 1) + [TokenType.CONTROL])
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    w.add_bos_token_id(eos)
    w.add_eos_token_id(eos)
    w.add_add_bos_token(False)

    rng = np.random.default_rng(0)
    r = lambda *shape: (rng.standard_normal(shape) * 0.02).astype(np.float32)
    ones = lambda n: np.ones(n, dtype=np.float32)
    w.add_tensor("token_embd.weight", r(n_vocab, n_embd))
    w.add_tensor("output_norm.weight", ones(n_embd))
    w.add_tensor("output.weight", np.zeros((n_vocab, n_embd), dtype=np.float32))
    w.add_tensor("blk.0.attn_norm.weight", ones(n_embd))
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        w.add_tensor(f"blk.0.{name}.weight", r(n_embd, n_embd))
    w.add_tensor("blk.0.ffn_norm.weight", ones(n_embd))
    w.add_tensor("blk.0.ffn_gate.weight", r(n_ff, n_embd))
    w.add_tensor("blk.0.ffn_up.weight", r(n_ff, n_embd))
    w.add_tensor("blk.0.ffn_down.weight", r(n_embd, n_ff))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
