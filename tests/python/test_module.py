"""The t5gemma2 Python module against the repository's HF goldens (transformers v5.0.0).

Run by ctest (python_module) with the module's build folder on PYTHONPATH and T5GEMMA2_TEST_DATA,
T5GEMMA2_DEMO_MODEL set; every golden is in tests/data or models/demo.

Tolerances: f32 tensors as the C++ golden tests (|ours - HF| <= 1e-5 * max(1, max |HF|) on the
rows HF's mask keeps), beam scores 1e-5 relative, hf-bf16 tensors bit for bit, token ids exactly.
"""
import gc
import json
import multiprocessing
import os
import pathlib
import struct
import threading
import time

import numpy as np
import pytest

import t5gemma2

DATA = os.environ.get("T5GEMMA2_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
DEMO = os.environ.get("T5GEMMA2_DEMO_MODEL", t5gemma2.demo_model)


def read_safetensors(path):
    """name -> numpy array (F32, F64, I64, U8; BF16 widened to float32 exactly)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    body = blob[8 + n :]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        raw = body[begin:end]
        if t["dtype"] == "BF16":
            a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, {"F32": np.float32, "F64": np.float64, "I64": np.int64, "U8": np.uint8}[t["dtype"]])
        out[name] = a.reshape(t["shape"])
    return out


def close(ours, ref, rel=1e-5):
    assert ours.shape == ref.shape
    return float(np.max(np.abs(ours - ref))) <= rel * max(1.0, float(np.max(np.abs(ref))))


def demo_samples():
    with open(os.path.join(DEMO, "prompts.jsonl")) as f:
        return {s["name"]: s for s in map(json.loads, f) if s.get("golden")}


@pytest.fixture(scope="module")
def demo():
    return t5gemma2.Model(DEMO)


@pytest.fixture(scope="module")
def tiny_a():
    return t5gemma2.Model(os.path.join(DATA, "tiny_a"))


# ---- numbers against HF ---------------------------------------------------------------------


def test_dump_equals_the_tiny_a_golden(tiny_a):
    golden = read_safetensors(os.path.join(DATA, "tiny_a", "golden.safetensors"))
    inputs = {k: v for k, v in golden.items() if k.split(".", 1)[1] in
              ("encoder_input_ids", "encoder_attention_mask", "decoder_input_ids", "pixel_values")}
    out = tiny_a.dump(inputs, max_new_tokens=golden["gen.sequences"].shape[1] - 1)
    for prefix in ("text.", "mm."):
        for name in ("logits", "decoder.last_hidden_state", "encoder.layer0", "encoder.last_hidden_state"):
            key = prefix + name
            if key not in golden:
                continue
            ours, ref = out[key], golden[key]
            if name.startswith("encoder") and prefix + "encoder_attention_mask" in golden:
                keep = golden[prefix + "encoder_attention_mask"].astype(bool)  # padding rows are not compared
                ours, ref = ours[keep], ref[keep]
            assert close(ours, ref), key
    assert np.array_equal(out["gen.sequences"], golden["gen.sequences"])
    assert np.array_equal(out["gen_mm.sequences"], golden["gen_mm.sequences"])
    assert np.array_equal(out["text.encoder.mask.sliding_attention"], golden["text.encoder.mask.sliding_attention"])


def test_greedy_generation_equals_hf_on_the_demo_goldens(demo):
    for name, s in demo_samples().items():
        manifest = json.load(open(os.path.join(DEMO, "golden", name, "manifest.json")))
        images = [os.path.join(DEMO, s["image"])] if s.get("image") else []
        [h] = demo.generate(s["prompt"], images=images, max_new_tokens=24)
        assert h["tokens"] == manifest["greedy_ids"][1:], name
        assert h["text"] == manifest["greedy_text"], name
        assert h["score"] is None
        assert demo.tokenize(manifest["expanded_prompt"]) == manifest["encoder_input_ids"]


def test_beam_search_equals_hf_generate_on_padded_demo_batches(demo):
    golden = read_safetensors(os.path.join(DATA, "beam", "demo", "golden.safetensors"))
    samples = demo_samples()
    batches = {"text.": [s for n, s in sorted(samples.items()) if n.startswith("text_")],
               "mm.": [samples[n] for n in ("image_00", "image_01", "image_02")]}
    runs = 0
    for prefix, batch in batches.items():
        # The golden's batch is these prompts, left-padded.
        ids = golden[prefix + "encoder_input_ids"]
        for row, s in zip(ids, batch):
            assert list(row[row != 0]) == s["encoder_input_ids"]
        prompts = [s["prompt"] for s in batch]
        images = [os.path.join(DEMO, s["image"]) for s in batch if s.get("image")]
        for key in sorted(golden):
            if not (key.startswith(prefix) and key.endswith(".int_options")):
                continue
            run = key[: -len("int_options")]
            beams, returned, early, ngram, min_new, max_new = (int(v) for v in golden[key])
            length_penalty, repetition_penalty = (float(v) for v in golden[run + "float_options"])
            got = demo.generate(prompts, images=images, num_beams=beams, num_return_sequences=returned,
                                early_stopping=[False, True, "never"][early], no_repeat_ngram_size=ngram,
                                min_new_tokens=min_new, max_new_tokens=max_new, length_penalty=length_penalty,
                                repetition_penalty=repetition_penalty)
            hypotheses = [h for per_prompt in got for h in per_prompt]
            want = golden[run + "sequences"]
            assert len(hypotheses) == len(want), run
            scores = golden[run + "sequences_scores"] if beams > 1 else [None] * len(want)  # greedy runs: none
            for h, seq, score in zip(hypotheses, want, scores):
                seq = list(seq[1:])
                if 1 in seq:
                    seq = seq[: seq.index(1) + 1]  # HF pads after EOS
                assert h["tokens"] == seq, run
                assert (h["score"] is None) if score is None else abs(h["score"] - score) <= 1e-5 * max(1.0, abs(score)), run
            runs += 1
    assert runs == 14


def test_embeddings_equal_hf_get_encoder_pooled(demo):
    golden = read_safetensors(os.path.join(DATA, "embeddings", "demo", "golden.safetensors"))
    samples = demo_samples()
    names = sorted(samples)
    prompts = [samples[n]["prompt"] for n in names]
    images = [[os.path.join(DEMO, samples[n]["image"])] if samples[n].get("image") else [] for n in names]
    for pooling in ("mean", "first", "last"):
        for normalize in (False, True):
            got = demo.embed(prompts, images=images, pooling=pooling, normalize=normalize)
            assert got.shape == (len(names), demo.config["encoder"]["text_config"]["hidden_size"])
            for i, n in enumerate(names):
                ref = golden[f"{n}.pooled.{pooling}{'_normalized' if normalize else ''}"][0]
                assert close(got[i], ref), (n, pooling, normalize)
    per_token = demo.embed(prompts[:2], images=images[:2], pooling="none")
    for i, n in enumerate(names[:2]):
        assert close(per_token[i], golden[f"{n}.encoder.last_hidden_state"][0])


def test_encode_takes_numpy_and_equals_hf(demo):
    golden = read_safetensors(os.path.join(DATA, "embeddings", "demo", "golden.safetensors"))
    ids = golden["image_00.encoder_input_ids"]  # [1, S], int64
    h = demo.encode(ids, pixel_values=golden["image_00.pixel_values"])
    assert close(h, golden["image_00.encoder.last_hidden_state"][0])
    # int32, a list, a non-contiguous view: the same ids, the same bits
    text = golden["text_00.encoder_input_ids"][0]
    ref = demo.encode(text)
    assert np.array_equal(demo.encode(text.astype(np.int32)), ref)
    assert np.array_equal(demo.encode(list(text)), ref)
    doubled = np.repeat(text, 2)[::2]
    assert not doubled.flags.c_contiguous and np.array_equal(demo.encode(doubled), ref)
    assert np.array_equal(demo.encode(text, attention_mask=np.ones_like(text)), ref)


def test_hf_bf16_is_hf_bf16_bit_for_bit():
    model = t5gemma2.Model(DEMO, precision="hf-bf16")
    golden = read_safetensors(os.path.join(DATA, "bf16", "demo", "golden.safetensors"))
    for sample in ("text_00", "image_00"):
        prefix = "mm." if sample.startswith("image") else "text."
        inputs = {prefix + k: golden[f"{sample}.{k}"] for k in ("encoder_input_ids", "decoder_input_ids", "pixel_values")
                  if f"{sample}.{k}" in golden}
        out = model.dump(inputs, max_new_tokens=golden[f"{sample}.gen.sequences"].shape[1] - 1)
        for name in ("encoder.last_hidden_state", "logits"):
            assert np.array_equal(out[prefix + name], golden[f"{sample}.{name}"]), (sample, name)
        assert np.array_equal(out["gen.sequences"], golden[f"{sample}.gen.sequences"])


# ---- numpy: dtypes, shapes, ownership --------------------------------------------------------


def test_arrays_are_handed_over_not_copied():
    demo = t5gemma2.Model(pathlib.Path(DEMO))  # a local model (os.PathLike works as a path)
    e = demo.embed(["a", "b c"])
    assert e.dtype == np.float32 and e.shape == (2, 192) and e.flags.c_contiguous and e.flags.writeable
    assert not e.flags.owndata and type(e.base).__name__ == "PyCapsule"  # the C++ buffer itself
    h = demo.encode(demo.tokenize("one two"))
    assert h.dtype == np.float32 and h.shape == (3, 192) and not h.flags.owndata
    out = demo.dump({"text.encoder_input_ids": np.array([demo.tokenize("one two")]),
                     "text.decoder_input_ids": np.array([[2, 300]])}, max_new_tokens=2)
    assert out["gen.sequences"].dtype == np.int64 and out["text.encoder.embeddings"].dtype == np.float32
    assert out["text.encoder.mask.full_attention"].dtype == np.uint8
    norm = float(np.sum(e * e))
    del demo  # the arrays own their memory: they outlive the model
    gc.collect()
    assert float(np.sum(e * e)) == norm > 0 and out["gen.sequences"].shape == (1, 3)


def test_config_tokenize_detokenize(demo):
    assert demo.config["model_type"] == "t5gemma2"
    ids = demo.tokenize("hello world")
    assert ids[0] == demo.config["bos_token_id"] and demo.tokenize("hello world", add_bos=False) == ids[1:]
    assert demo.detokenize(ids, skip_special_tokens=True) == "hello world"
    assert demo.target in t5gemma2.available_targets()
    scalar = t5gemma2.Model(DEMO, target="scalar", threads=1)
    assert scalar.target == "scalar"
    assert np.array_equal(scalar.encode(ids), demo.encode(ids))  # every target, the same bits


def test_sampling_is_seeded(demo):
    def sample(seed):
        return demo.generate("sort: 5 1 4", do_sample=True, temperature=3.0, seed=seed, max_new_tokens=8)[0]["tokens"]

    assert sample(7) == sample(7)
    draws = {tuple(sample(seed)) for seed in range(6)}
    greedy = tuple(demo.generate("sort: 5 1 4", max_new_tokens=8)[0]["tokens"])
    assert len(draws) > 1 and draws != {greedy}  # the seed and the temperature are used


# ---- errors ----------------------------------------------------------------------------------


def test_errors_are_python_errors(demo, tmp_path):
    with pytest.raises(t5gemma2.Error, match="config.json"):
        t5gemma2.Model(str(tmp_path / "missing"))
    assert issubclass(t5gemma2.Error, OSError)
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in ("config.json", "tokenizer.model"):
        (broken / f).write_bytes(open(os.path.join(DEMO, f), "rb").read())
    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(OSError, match="model.safetensors"):
        t5gemma2.Model(str(broken))
    with pytest.raises(ValueError, match="precision"):
        t5gemma2.Model(DEMO, precision="fp8")
    with pytest.raises(ValueError, match="target"):
        t5gemma2.Model(DEMO, target="NEON")
    with pytest.raises(ValueError, match="tokens long"):
        demo.generate("one " * 600)
    with pytest.raises(ValueError, match="marker"):
        demo.generate("<start_of_image> <start_of_image> two images", images=[os.path.join(DEMO, "images", "sample_00.png")])
    with pytest.raises(t5gemma2.Error, match="nope.png"):
        demo.generate("<start_of_image> caption:", images=[str(tmp_path / "nope.png")])
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(OSError, match="bad.png"):
        demo.embed(["x"], images=[[str(tmp_path / "bad.png")]])
    with pytest.raises(ValueError, match="pooling"):
        demo.embed(["x"], pooling="max")
    with pytest.raises(ValueError, match="num_return_sequences"):
        demo.generate("x", num_beams=2, num_return_sequences=3)
    with pytest.raises(ValueError, match="pixel_values"):
        demo.encode(demo.tokenize("x"), pixel_values=np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="out of range"):
        demo.encode([-1, 5])
    with pytest.raises(ValueError, match="integers"):
        demo.encode(np.array([1.9, 300.0]))  # never truncated to ids
    with pytest.raises(ValueError, match="integers"):
        demo.encode("123")
    with pytest.raises(ValueError, match="max_new_tokens"):
        demo.generate("x", max_new_tokens=2**31 - 1)
    with pytest.raises(ValueError, match="threads"):
        t5gemma2.Model(DEMO, threads=0)
    with pytest.raises(ValueError, match="decoder"):
        t5gemma2.Model(DEMO, encoder_only=True).generate("x")
    assert demo.generate("reverse: one two three")[0]["text"] == "three two one"  # still works after errors


# ---- threads and signals ---------------------------------------------------------------------


def test_the_gil_is_released_while_the_model_computes(demo):
    ids = np.full(8192, 300, np.int64)  # about a second
    done = threading.Event()
    worker = threading.Thread(target=lambda: (demo.encode(ids), done.set()))
    counted = 0
    worker.start()
    time.sleep(0.05)
    start = time.monotonic()
    while not done.is_set():
        counted += 1
    elapsed = time.monotonic() - start
    worker.join()
    # This thread kept running Python during the encode (a held GIL would stop it for the whole call).
    assert elapsed > 0.1 and counted > 10000, (elapsed, counted)


def test_keyboard_interrupt_stops_a_long_encode():
    import _thread

    one_thread = t5gemma2.Model(DEMO, threads=1)
    ids = np.full(8192, 300, np.int64)  # about 2 s on one thread
    timer = threading.Timer(0.2, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        one_thread.encode(ids)
    assert time.monotonic() - start < 1.0  # stopped at a progress report, not after the whole encode
    timer.join()
    ids = one_thread.tokenize("reverse: one two three")
    assert one_thread.encode(ids).shape == (len(ids), 192)  # usable afterwards


def test_read_safetensors_reads_goldens_as_the_tests_do():
    for path in (os.path.join(DATA, "tiny_a", "golden.safetensors"), os.path.join(DATA, "bf16", "demo", "golden.safetensors")):
        ours, ref = t5gemma2.read_safetensors(path), read_safetensors(path)
        assert sorted(ours) == sorted(ref)
        for name in ref:
            assert ours[name].shape == ref[name].shape and np.array_equal(ours[name], ref[name]), name
    with pytest.raises(t5gemma2.Error, match="nothing.safetensors"):
        t5gemma2.read_safetensors(os.path.join(DATA, "nothing.safetensors"))


def test_two_threads_two_models_give_each_its_own_bits(demo):
    other = t5gemma2.Model(DEMO, precision="hf-bf16", threads=1)
    ids = demo.tokenize("reverse: one two three four five")
    alone = (demo.encode(ids), other.encode(ids))
    results = {}
    threads = [threading.Thread(target=lambda k=k, m=m: results.__setitem__(k, [m.encode(ids) for _ in range(20)]))
               for k, m in (("f32", demo), ("hf-bf16", other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(r, alone[0]) for r in results["f32"])
    assert all(np.array_equal(r, alone[1]) for r in results["hf-bf16"])
    assert not np.array_equal(alone[0], alone[1])


def _encode_in_child(model, ids, conn):
    conn.send(model.encode(ids))
    conn.close()


def test_a_forked_child_can_compute(demo):
    ids = np.full(600, 300, np.int64)  # large enough for the thread pool
    parent = demo.encode(ids)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_encode_in_child, args=(demo, ids, send))
    child.start()
    assert receive.poll(60), "the forked child hung"
    got = receive.recv()
    child.join(10)
    assert child.exitcode == 0 and np.array_equal(got, parent)
