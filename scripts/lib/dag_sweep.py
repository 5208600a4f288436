"""Writes the sweep DAG engines are compared on: 50 models x 3 engines x BATCHES x SEQS
configurations of trivial nodes (run with `--actions test`).

    python3 scripts/lib/dag_sweep.py OUT.kdl BATCHES SEQS
"""
import sys
path, nb, ns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
batches = " ".join(str(2**i) for i in range(nb))
seqs = " ".join(str(256 * (i + 1)) for i in range(ns))
models = "\n".join(f'    model "org/m{i:02}" arch="llama-3.1-8b"' for i in range(50))
open(path, "w").write(f'''sweep "dag" {{
{models}
    matrix {{
        engine "vllm" "tgi" "lmdeploy"
        quantization "fp16"
        gpu "H100-80GB"
        batch-size {batches}
        seq-len {seqs}
    }}
    workload "w" {{
        dataset "random" input-len=16 output-len=16
        concurrency 1
        requests 1
    }}
}}
''')
