// The t5gemma2 command: every line of the demo model's prompts.jsonl, and its errors.
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_args.hpp"
#include "t5gemma2/config.hpp"
#include "t5gemma2/safetensors.hpp"
#include "t5gemma2/tokenizer.hpp"
#include "test_util.hpp"

struct Run {
  int status;
  std::string out;  // stdout + stderr
};

static std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// redirect: the shell redirections after the arguments (default: stderr dropped or kept).
static Run run_cli(const std::string& args, bool with_stderr = false, const char* redirect = nullptr) {
  const std::string cmd = std::string(T5GEMMA2_CLI) + " " + args + (redirect ? redirect : with_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf;
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST_CASE("the CLI reproduces every expected_output of prompts.jsonl on the default (demo) model") {
  std::ifstream in(demo_model("prompts.jsonl"));
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    std::string args = "--prompt " + quote(j["prompt"].get<std::string>());
    if (!j["image"].is_null()) args += " --image " + quote(demo_model(j["image"].get<std::string>()));
    const Run r = run_cli(args);
    INFO(j["name"].get<std::string>());
    CHECK(r.status == 0);
    CHECK(r.out == j["expected_output"].get<std::string>() + "\n");
    ++lines;
  }
  CHECK(lines == 15);
}

TEST_CASE("CLI batches: one line per prompt, images assigned by marker") {
  const Run r = run_cli("--prompt 'upper: hello world' --prompt '<start_of_image> caption:' --prompt 'sort: 7 3 9 1' --image " +
                        quote(demo_model("images/sample_03.png")));
  CHECK(r.status == 0);
  CHECK(r.out == "HELLO WORLD\na black square at the bottom\n1 3 7 9\n");
}

TEST_CASE("CLI --precision: hf-bf16 and bf16-weights run the demo batch, a bad value is refused") {
  const std::string batch = "--prompt 'upper: hello world' --prompt '<start_of_image> caption:' --prompt 'sort: 7 3 9 1' --image " +
                            quote(demo_model("images/sample_03.png"));
  for (const char* p : {"hf-bf16", "bf16-weights", "f32"}) {
    const Run r = run_cli(batch + " --precision " + p);
    INFO(p);
    CHECK(r.status == 0);
    CHECK(r.out == "HELLO WORLD\na black square at the bottom\n1 3 7 9\n");
  }
  const Run r = run_cli("--prompt x --precision bf17", true);
  CHECK(r.status == 2);
  CHECK(r.out.find("--precision must be f32, bf16-weights or hf-bf16") != std::string::npos);
}

TEST_CASE("CLI embed: every golden demo prompt's mean vector (JSON lines) matches HF get_encoder(), .npy and errors") {
  const t5gemma2::SafetensorsFile golden(test_data("embeddings/demo/golden.safetensors"));
  std::ifstream in(demo_model("prompts.jsonl"));
  int checked = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j["golden"].get<bool>()) continue;
    std::string args = "embed --prompt " + quote(j["prompt"].get<std::string>()) + " --out -";
    if (!j["image"].is_null()) args += " --image " + quote(demo_model(j["image"].get<std::string>()));
    const Run r = run_cli(args);
    INFO(j["name"].get<std::string>() << ": " << r.out.substr(0, 200));
    REQUIRE(r.status == 0);
    const auto got = nlohmann::json::parse(r.out)["embedding"].get<std::vector<float>>();
    const std::vector<float> ref = t5gemma2::to_f32_vector(golden.get(j["name"].get<std::string>() + ".pooled.mean"));
    REQUIRE(got.size() == ref.size());
    float max_ref = 0, max_abs = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      max_ref = std::max(max_ref, std::fabs(ref[i]));
      max_abs = std::max(max_abs, std::fabs(got[i] - ref[i]));
    }
    CHECK(max_abs <= 1e-5f * std::max(1.0f, max_ref));
    ++checked;
  }
  CHECK(checked == 10);

  TempDir dir;
  Run r = run_cli("embed --prompt 'upper: hello world' --prompt 'sort: 3 1 2' --normalize --out " + quote(dir / "e.npy"));
  CHECK(r.status == 0);
  std::ifstream npy(dir / "e.npy", std::ios::binary);
  std::string header(128, '\0');
  npy.read(header.data(), 128);
  CHECK(header.rfind("\x93NUMPY", 0) == 0);
  CHECK(header.find("(2, 192)") != std::string::npos);
  r = run_cli("embed --prompt x --pooling max --out -", true);
  CHECK(r.status == 2);
  CHECK(r.out.find("unknown pooling 'max'") != std::string::npos);
  r = run_cli("embed --prompt a --prompt b --pooling none --out " + quote(dir / "n.npy"), true);
  CHECK(r.status == 2);
  CHECK(r.out.find("use .safetensors or -") != std::string::npos);
}

TEST_CASE("CLI beam search prints HF's hypotheses and scores (demo text_00, beam golden run b4_lp0_never_r4)") {
  // HF: num_beams 4, length_penalty 0, early_stopping "never", num_return_sequences 4 on the
  // demo batch; text_00 ('reverse: one two three') is row 0, alone here.
  const t5gemma2::SafetensorsFile golden(test_data("beam/demo/golden.safetensors"));
  const auto want = t5gemma2::to_i64_vector(golden.get("text.b4_lp0_never_r4.sequences"));
  const auto scores = t5gemma2::to_f32_vector(golden.get("text.b4_lp0_never_r4.sequences_scores"));
  const auto width = std::size_t(golden.get("text.b4_lp0_never_r4.sequences").shape[1]);
  const t5gemma2::ModelConfig c = t5gemma2::load_model_config(demo_model());
  const t5gemma2::Tokenizer tok = t5gemma2::load_tokenizer(demo_model(), c);
  const Run r = run_cli("--prompt 'reverse: one two three' --num-beams 4 --length-penalty 0 --early-stopping never "
                        "--num-return-sequences 4");
  CHECK(r.status == 0);
  std::istringstream lines(r.out);
  std::size_t n = 0;
  for (std::string line; std::getline(lines, line); ++n) {  // rank <TAB> score <TAB> text
    INFO(line);
    REQUIRE(n < 4);
    const std::vector<int> ids(want.begin() + std::ptrdiff_t(n * width + 1), want.begin() + std::ptrdiff_t((n + 1) * width));
    const std::size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    REQUIRE(t2 != std::string::npos);
    CHECK(line.substr(0, t1) == std::to_string(n + 1));
    CHECK(std::fabs(std::stod(line.substr(t1 + 1, t2 - t1 - 1)) - scores[n]) <= 1e-5 * std::max(1.0f, std::fabs(scores[n])));
    CHECK(line.substr(t2 + 1) == tok.decode(ids, true));
  }
  CHECK(n == 4);
  const Run one = run_cli("--prompt 'reverse: one two three' --num-beams 2 --repetition-penalty 1.3 --no-repeat-ngram-size 2 --min-new-tokens 4");
  CHECK(one.status == 0);
  CHECK(one.out.find('\t') == std::string::npos);  // one hypothesis: text only
  Run bad = run_cli("--prompt x --num-beams 2 --num-return-sequences 3", true);
  CHECK(bad.status == 1);
  CHECK(bad.out.find("--num-return-sequences 3 exceeds the number of beams (2)") != std::string::npos);
  bad = run_cli("--prompt x --early-stopping maybe", true);
  CHECK(bad.status == 2);
  CHECK(bad.out.find("--early-stopping must be true, false or never") != std::string::npos);
  bad = run_cli("--prompt x --num-beams 2 --temperature 0.5", true);
  CHECK(bad.status == 1);
  CHECK(bad.out.find("beam sampling") != std::string::npos);
}

TEST_CASE("CLI hardening: strict numbers, only regular prompt files, oversized prompts refused before tokenizing") {
  for (const char* seed : {"-1", "1.5", "1e300", "18446744073709551616", ""}) {
    const Run r = run_cli(std::string("--prompt x --seed '") + seed + "'", true);
    INFO(seed);
    CHECK(r.status == 2);
    CHECK(r.out.find("--seed needs an integer") != std::string::npos);
  }
  Run r = run_cli("--prompt x --max-new-tokens 1099511627776", true);
  CHECK(r.status == 2);
  CHECK(r.out.find("--max-new-tokens needs an integer in [1, 1048576]") != std::string::npos);
  r = run_cli("--prompt x --temperature nan", true);
  CHECK(r.status == 2);
  // A temperature of 1e-40 is greedy, not NaN garbage.
  CHECK(run_cli("--prompt 'reverse: one two three' --temperature 1e-40 --seed 3").out == "three two one\n");
  TempDir tmp;
  const std::string fifo = tmp / "prompts.fifo";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  for (const std::string& bad : {fifo, std::string("/dev/zero"), tmp.path.string()}) {
    r = run_cli("--prompt-file " + quote(bad), true);
    INFO(bad << ": " << r.out);
    CHECK(r.status == 2);
    CHECK((r.out.find("not a regular file") != std::string::npos || r.out.find("a directory") != std::string::npos));
  }
  {
    std::ofstream big(tmp / "big.txt");
    const std::string chunk(1 << 20, 'a');
    for (int i = 0; i < 50; ++i) big << chunk;  // one 50 MiB line
    big << "\n";
  }
  r = run_cli("--prompt-file " + quote(tmp / "big.txt"), true);
  CHECK(r.status == 1);
  CHECK(r.out.find("prompt 1 is 50.0 MiB long: more than 512 tokens (the limit) can hold") != std::string::npos);
  r = run_cli("embed --prompt-file /dev/zero --out -", true);
  CHECK(r.status == 2);
  CHECK(r.out.find("not a regular file") != std::string::npos);
  r = run_cli("embed --prompt x --threads -3 --out -", true);
  CHECK(r.status == 2);
}

TEST_CASE("CLI under a memory limit: 1024 worker threads that cannot all be created still give the answer") {
  // 8 MiB of stack per thread: under a 1.5 GB address-space limit most threads fail to start.
#if defined(__SANITIZE_ADDRESS__)
  SUCCEED("skipped under AddressSanitizer: its shadow memory needs more address space than the limit");
  return;
#endif
  const std::string cmd = "bash -c \"ulimit -v 1500000; exec " + std::string(T5GEMMA2_CLI) +
                          " --threads 1024 --prompt 'reverse: one two three'\" 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  CHECK(WIFEXITED(status));
  CHECK(out == "three two one\n");
}

TEST_CASE("CLI sampling is reproducible for a seed") {
  const std::string args = "--prompt 'reverse: one two three' --temperature 3 --top-k 50 --seed 11";
  CHECK(run_cli(args).out == run_cli(args).out);
}

TEST_CASE("CLI errors: clear message, non-zero exit") {
  Run r = run_cli("--bogus", true);
  CHECK(r.status == 2);
  CHECK(r.out.find("unknown argument '--bogus'") != std::string::npos);
  r = run_cli("--prompt x --max-new-tokens abc", true);
  CHECK(r.status == 2);
  CHECK(r.out.find("--max-new-tokens needs an integer") != std::string::npos);
  r = run_cli("", true);
  CHECK(r.status == 2);
  r = run_cli("--help", true);
  CHECK(r.status == 0);
  CHECK(r.out.find("usage: t5gemma2") != std::string::npos);
  r = run_cli("--model /nonexistent/dir --prompt hi", true);
  CHECK(r.status == 1);
  CHECK(r.out.find("/nonexistent/dir/config.json") != std::string::npos);
  r = run_cli("--prompt '<start_of_image> a <start_of_image> b' --image " + quote(demo_model("images/sample_00.png")), true);
  CHECK(r.status == 1);
  CHECK(r.out.find("2 <start_of_image> marker(s) but 1 image(s)") != std::string::npos);
  r = run_cli("--prompt hi --image /nonexistent/x.png", true);
  CHECK(r.status == 1);
  CHECK(r.out.find("/nonexistent/x.png: cannot open image") != std::string::npos);
  std::string long_prompt;
  for (int i = 0; i < 600; ++i) long_prompt += "one ";
  r = run_cli("--prompt " + quote(long_prompt), true);
  CHECK(r.status == 1);
  CHECK(r.out.find("max_position_embeddings") != std::string::npos);
}

TEST_CASE("CLI long inputs: --prompt-file per line or --whole-file, --max-input-tokens limits or extends") {
  TempDir dir;
  { std::ofstream(dir / "two.txt") << "upper: hello world\nsort: 7 3 9 1\n"; }
  Run r = run_cli("--prompt-file " + quote(dir / "two.txt"));
  CHECK(r.status == 0);
  CHECK(r.out == "HELLO WORLD\n1 3 7 9\n");
  { std::ofstream(dir / "one.txt") << "upper: hello world\n"; }
  r = run_cli("--prompt-file " + quote(dir / "one.txt") + " --whole-file");
  CHECK(r.status == 0);
  CHECK(r.out == "HELLO WORLD\n");
  r = run_cli("--prompt-file " + quote(dir / "two.txt") + " --whole-file");  // one prompt of two lines
  CHECK(r.status == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);

  r = run_cli("--prompt 'upper: hello world' --max-input-tokens 3", true);  // checked before any work
  CHECK(r.status == 1);
  CHECK(r.out.find("the limit is 3 (--max-input-tokens)") != std::string::npos);
  std::string long_prompt;  // 600 tokens > max_position_embeddings = 512 of the demo model
  for (int i = 0; i < 600; ++i) long_prompt += "one ";
  r = run_cli("--prompt " + quote(long_prompt) + " --max-input-tokens 1000 --max-new-tokens 2", true);
  CHECK(r.status == 0);
  CHECK(r.out.find("exceed max_position_embeddings = 512") != std::string::npos);
  r = run_cli("--whole-file --prompt x", true);
  CHECK(r.status == 2);
}

TEST_CASE("output that cannot be written fails the run with a message, and leaves no complete-looking file") {
  // stdout on a full device: the text is lost, so the exit status says so (stderr kept: the message).
  const Run full = run_cli("--prompt 'reverse: one two three'", true, " 2>&1 >/dev/full");
  INFO(full.out);
  CHECK(full.status == 1);
  CHECK(full.out.find("cannot write to standard output") != std::string::npos);
  // A file output whose directory does not exist: an error naming it, no file.
  TempDir tmp;
  const std::string missing = tmp / "missing/e.npy";
  const Run r = run_cli("embed --prompt 'x' --out " + quote(missing), true);
  CHECK(r.status == 1);
  CHECK(r.out.find("e.npy") != std::string::npos);
  CHECK(!std::filesystem::exists(missing));
}

TEST_CASE("a text-only model given --image says it has no vision tower") {
  TempDir tmp;
  nlohmann::json c = nlohmann::json::parse(t5gemma2::read_text_file(demo_model("config.json")));
  c["encoder"].erase("vision_config");
  std::ofstream(tmp / "config.json") << c.dump();
  const Run r = run_cli("--model " + quote(tmp.path.string()) + " --image " + quote(demo_model("images/sample_00.png")) +
                            " --prompt '<start_of_image> describe the image'",
                        true);
  INFO(r.out);
  CHECK(r.status == 1);
  CHECK(r.out.find("--image: this model has no vision tower") != std::string::npos);
}

TEST_CASE("the progress line: no ETA before 1 % of the work, and the rows are the current layer's") {
  t5gemma2::Progress p{.layer = 11, .layers = 18, .rows_done = 0, .rows = 129001, .work_done = 0.001, .work_total = 1000};
  const std::string first = t5gemma2_cli::progress_line(p, 1.2);
  INFO(first);
  CHECK(first.find("ETA --") != std::string::npos);
  CHECK(first.find("keys and values of 129001 rows") != std::string::npos);
  p.rows_done = 13312;
  p.work_done = 400;
  const std::string later = t5gemma2_cli::progress_line(p, 100.0);
  INFO(later);
  CHECK(later.find("40% | layer 12/18, rows 13312/129001") != std::string::npos);
  CHECK(later.find("ETA 2m30s") != std::string::npos);
}
