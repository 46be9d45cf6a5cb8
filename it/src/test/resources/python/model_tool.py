"""Writes, uploads and checks a small Hugging Face style safetensors model, with the real Python
libraries a model server uses (safetensors, numpy, boto3). Used by the loader tests and
bench/loader.sh.

  model_tool.py write DIR [--shard-mib N]      3 shards (several dtypes and shapes), index, config, tokenizer
  model_tool.py upload DIR ENDPOINT BUCKET PREFIX   every file of DIR, with boto3's upload_file (multipart above 5 MiB)
  model_tool.py put FILE ENDPOINT BUCKET KEY   one file
  model_tool.py check STAGED ORIGINAL          every tensor of STAGED (safe_open, framework="np") equals ORIGINAL's
  model_tool.py hold STAGED SHARD ORIGINAL     maps SHARD, says MAPPED, waits for a line, then reads and checks it
  model_tool.py load DIR                       load_file of every shard (for timing); prints tensors and bytes
  model_tool.py write-big DIR TOTAL_MIB SHARDS a larger model of float16 and float32 tensors (for bench/loader.sh)
"""
import json
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

INDEX = "model.safetensors.index.json"


def write(out, shard_mib=1):
    rng = np.random.default_rng(20260601)
    os.makedirs(out, exist_ok=True)
    weight_map = {}
    total = 0
    # the first shard is large enough for a multipart upload; every shard mixes dtypes and shapes
    per_shard = [max(1, shard_mib) << 20, 256 << 10, 64 << 10]
    for i, target in enumerate(per_shard, start=1):
        name = "model-%05d-of-%05d.safetensors" % (i, len(per_shard))
        tensors = {}
        f32 = max(1, target // 4 // 2)
        cols = 256
        tensors["layers.%d.attn.weight" % i] = rng.standard_normal((max(1, f32 // cols), cols), dtype=np.float32)
        tensors["layers.%d.mlp.weight" % i] = rng.standard_normal(max(1, target // 2 // 2)).astype(np.float16)
        tensors["layers.%d.norm.bias" % i] = rng.standard_normal(17, dtype=np.float64)
        tensors["layers.%d.index" % i] = rng.integers(-(2 ** 40), 2 ** 40, size=(3, 5, 7), dtype=np.int64)
        tensors["layers.%d.mask" % i] = rng.integers(0, 2, size=(31,), dtype=np.uint8).astype(np.bool_)
        tensors["layers.%d.scale" % i] = np.array(3.25, dtype=np.float32)  # a 0-d tensor
        tensors["layers.%d.q" % i] = rng.integers(-128, 127, size=(9, 4), dtype=np.int8)
        save_file(tensors, os.path.join(out, name), metadata={"format": "np"})
        for k, v in tensors.items():
            weight_map[k] = name
            total += v.nbytes
    with open(os.path.join(out, INDEX), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"architectures": ["TinyForCausalLM"], "hidden_size": 256, "num_hidden_layers": 3,
                   "torch_dtype": "float16", "vocab_size": 32}, f, indent=2)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump({"version": "1.0", "model": {"type": "BPE", "vocab": {chr(97 + i): i for i in range(26)}, "merges": []}}, f)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"max_new_tokens": 16}, f)
    print("wrote", len(per_shard), "shards,", len(weight_map), "tensors,", total, "bytes of tensors to", out)


def client(endpoint):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


def transfer_config():
    from boto3.s3.transfer import TransferConfig
    return TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)


def upload(src, endpoint, bucket, prefix):
    s3 = client(endpoint)
    n = 0
    for root, _, files in os.walk(src):
        for name in sorted(files):
            path = os.path.join(root, name)
            key = prefix + os.path.relpath(path, src).replace(os.sep, "/")
            s3.upload_file(path, bucket, key, Config=transfer_config())
            n += 1
    print("uploaded", n, "files to s3://%s/%s" % (bucket, prefix))


def put(path, endpoint, bucket, key):
    client(endpoint).upload_file(path, bucket, key, Config=transfer_config())
    print("put", path, "as s3://%s/%s" % (bucket, key))


def compare(name, a, b):
    if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b):
        raise SystemExit("tensor %s differs: %s%s against %s%s" % (name, a.dtype, a.shape, b.dtype, b.shape))


def check(staged, original):
    with open(os.path.join(staged, INDEX)) as f:
        index = json.load(f)
    shards = sorted(set(index["weight_map"].values()))
    count = 0
    for shard in shards:
        want = load_file(os.path.join(original, shard))
        with safe_open(os.path.join(staged, shard), framework="np") as f:
            keys = set(f.keys())
            if keys != set(want):
                raise SystemExit("%s holds tensors %s, expected %s" % (shard, sorted(keys), sorted(want)))
            for k in sorted(keys):
                if index["weight_map"][k] != shard:
                    raise SystemExit("the index names %s for %s, but it is in %s" % (index["weight_map"][k], k, shard))
                compare(k, f.get_tensor(k), want[k])
                count += 1
    for name in ("config.json", "tokenizer.json", "generation_config.json"):
        with open(os.path.join(staged, name)) as a, open(os.path.join(original, name)) as b:
            if json.load(a) != json.load(b):
                raise SystemExit(name + " differs")
    print("OK", count, "tensors in", len(shards), "shards equal; config.json", json.load(open(os.path.join(staged, "config.json")))["architectures"])


def hold(staged, shard, original):
    want = load_file(os.path.join(original, shard))
    with safe_open(os.path.join(staged, shard), framework="np") as f:
        print("MAPPED", flush=True)
        sys.stdin.readline()
        exists = os.path.exists(os.path.join(staged, shard))
        for k in f.keys():
            compare(k, f.get_tensor(k), want[k])
        print("OK read", len(want), "tensors after the file was", "kept" if exists else "unlinked", flush=True)


def write_big(out, total_mib, shards):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    weight_map = {}
    per = (total_mib << 20) // shards
    for i in range(1, shards + 1):
        name = "model-%05d-of-%05d.safetensors" % (i, shards)
        tensors = {}
        for j in range(8):  # 8 tensors a shard, alternating float16 and float32
            n = per // 8
            if j % 2 == 0:
                tensors["layers.%d.%d.weight" % (i, j)] = rng.integers(0, 65535, size=n // 2, dtype=np.uint16).view(np.float16)
            else:
                tensors["layers.%d.%d.weight" % (i, j)] = rng.integers(0, 2 ** 32 - 1, size=n // 4, dtype=np.uint32).view(np.float32)
        save_file(tensors, os.path.join(out, name))
        weight_map.update({k: name for k in tensors})
    with open(os.path.join(out, INDEX), "w") as f:
        json.dump({"metadata": {"total_size": total_mib << 20}, "weight_map": weight_map}, f)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"architectures": ["BenchForCausalLM"]}, f)


def load(directory):
    tensors = 0
    nbytes = 0
    for name in sorted(os.listdir(directory)):
        if name.endswith(".safetensors"):
            for v in load_file(os.path.join(directory, name)).values():
                tensors += 1
                nbytes += v.nbytes
    print("loaded", tensors, "tensors,", nbytes, "bytes")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "write":
        mib = int(argv[4]) if len(argv) > 4 and argv[3] == "--shard-mib" else 1
        write(argv[2], mib)
    elif cmd == "upload":
        upload(*argv[2:6])
    elif cmd == "put":
        put(*argv[2:6])
    elif cmd == "check":
        check(argv[2], argv[3])
    elif cmd == "hold":
        hold(argv[2], argv[3], argv[4])
    elif cmd == "write-big":
        write_big(argv[2], int(argv[3]), int(argv[4]))
    elif cmd == "load":
        load(argv[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
