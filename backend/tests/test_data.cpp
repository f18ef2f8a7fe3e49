// Data tools: BPE training by hand-counted pairs, encode/decode round trips, token files (round trip,
// truncation, corruption, bad magic, out-of-vocabulary tokens), entropy, and the tool's exit codes.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <sys/stat.h>
#include <sys/wait.h>

#include "backend/training/data/bpe_tokenizer.h"
#include "backend/training/data/token_file.h"

using namespace tandem::backend;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("tandem_backend_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void spit(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}
}  // namespace

TEST_CASE("the pre-tokenizer keeps one leading space with a word and splits punctuation", "[data]") {
  const auto w = BpeTokenizer::split_words("Hi, Tom!  ok\n");
  CHECK(w == std::vector<std::string>{"Hi", ",", " Tom", "!", " ", " ok", "\n"});
}

TEST_CASE("BPE merges the most frequent pair first", "[data]") {
  // "ab ab ab": words "ab" x1, " ab" x2. Pairs: (a,b) 3 times, (' ',a) 2 times -> merge 256 = "ab".
  // Then (' ', 256) occurs 2 times -> merge 257 = " ab". Nothing occurs twice after that.
  const auto tok = BpeTokenizer::train("ab ab ab", 300);
  REQUIRE(tok.merges().size() == 2);
  CHECK(tok.merges()[0] == std::pair<uint32_t, uint32_t>('a', 'b'));
  CHECK(tok.merges()[1] == std::pair<uint32_t, uint32_t>(' ', 256));
  CHECK(tok.encode("ab ab") == std::vector<uint32_t>{256, 257});
  CHECK(tok.decode({256, 257, '!'}) == "ab ab!");
  CHECK_THROWS_AS(tok.decode({258}), DataError);
}

TEST_CASE("a tokenizer survives JSON and encodes any bytes losslessly", "[data]") {
  const std::string text = "The cat sat on the mat. The cat ran! \xc3\xa9t\xc3\xa9 \t 123\n";
  const auto tok = BpeTokenizer::train(text + text + text, 280);
  const auto again = BpeTokenizer::from_json(tok.to_json(), "memory");
  CHECK(again.merges() == tok.merges());
  const std::string other = "Bytes never seen: \x01\xff{}";
  CHECK(again.decode(again.encode(other)) == other);
  CHECK(again.decode(again.encode(text)) == text);
}

TEST_CASE("malformed tokenizer JSON is refused with the field named", "[data]") {
  CHECK_THROWS_WITH(BpeTokenizer::from_json("{", "t.json"), Catch::Contains("t.json: not valid JSON"));
  CHECK_THROWS_WITH(BpeTokenizer::from_json(R"({"format":"x","version":1,"merges":[]})", "t.json"),
                    Catch::Contains("at format: expected \"tandem-bpe\""));
  // Merge 0 (token 256) may only combine tokens below 256.
  CHECK_THROWS_WITH(BpeTokenizer::from_json(R"({"format":"tandem-bpe","version":1,"merges":[[97,256]]})", "t.json"),
                    Catch::Contains("at merges[0]: expected a pair of earlier tokens (each < 256)"));
  CHECK_THROWS_WITH(BpeTokenizer::from_json(R"({"format":"tandem-bpe","version":1,"vocab_size":300,"merges":[[97,98]]})", "t.json"),
                    Catch::Contains("at vocab_size: expected 257"));
}

TEST_CASE("token files round trip and every kind of damage is reported", "[data]") {
  const auto dir = temp_dir("tokfile");
  const auto path = (dir / "a.tok").string();
  TokenFile f{300, {1, 299, 0, 7, 7}};
  write_token_file(path, f);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK(fs::file_size(path) == kTokenFileHeaderBytes + 5 * 2);
  const TokenFile back = read_token_file(path);
  CHECK(back.vocab_size == 300);
  CHECK(back.tokens == f.tokens);

  const std::string good = slurp(path);
  spit(dir / "trunc.tok", good.substr(0, good.size() - 1));
  CHECK_THROWS_WITH(read_token_file((dir / "trunc.tok").string()), Catch::Contains("truncated"));
  std::string flipped = good;
  flipped[kTokenFileHeaderBytes + 2] ^= 0x01;   // token 299 -> 298: still in range, checksum differs
  spit(dir / "flip.tok", flipped);
  CHECK_THROWS_WITH(read_token_file((dir / "flip.tok").string()), Catch::Contains("checksum mismatch"));
  spit(dir / "text.tok", "hello, this is not a token file at all........");
  CHECK_THROWS_WITH(read_token_file((dir / "text.tok").string()), Catch::Contains("expected the magic"));
  spit(dir / "short.tok", "TDMT");
  CHECK_THROWS_WITH(read_token_file((dir / "short.tok").string()), Catch::Contains("expected a 40-byte header"));
  CHECK_THROWS_WITH(read_token_file((dir / "missing.tok").string()), Catch::Contains("expected a token file, found no such file"));
  // A directory, and an endless input: refused before a byte is read.
  CHECK_THROWS_WITH(read_token_file(dir.string()), Catch::Contains("expected a token file, found a directory"));
  CHECK_THROWS_WITH(read_token_file("/dev/zero"), Catch::Contains("expected a token file, found a character device"));
  // A vocabulary of 2^32 - 1 (its statistics would need a count per token: 32 GiB) is refused.
  std::string huge_vocab = good;
  for (int i = 0; i < 4; ++i) huge_vocab[12 + i] = char(0xff);
  huge_vocab[16] = 4;   // 4 bytes per token, as such a vocabulary needs
  spit(dir / "vocab.tok", huge_vocab);
  CHECK_THROWS_WITH(read_token_file((dir / "vocab.tok").string()),
                    Catch::Contains("expected a vocabulary size of at most 16777216, found 4294967295"));
  // Padding after the announced tokens: the message gives the file's real size.
  spit(dir / "padded.tok", good + std::string(100000, 'x'));
  CHECK_THROWS_WITH(read_token_file((dir / "padded.tok").string()),
                    Catch::Contains("the file has " + std::to_string(good.size() + 100000) + " bytes"));
  CHECK_THROWS_WITH(write_token_file((dir / "bad.tok").string(), TokenFile{5, {1, 5}}),
                    Catch::Contains("token 5 at position 1 is not below the vocabulary size 5"));
  CHECK_FALSE(fs::exists(dir / "bad.tok"));
  // A pipe (standing for /dev/stdout or /dev/null) is written in place, not renamed over.
  const std::string fifo = (dir / "pipe.tok").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string received;
  std::thread reader([&] { received = slurp(fifo); });
  write_token_file(fifo, f);
  reader.join();
  CHECK(received == good);
  CHECK(fs::is_fifo(fifo));
  fs::remove_all(dir);
}

TEST_CASE("unigram entropy of a hand-counted sequence", "[data]") {
  // Two tokens, equally often: ln 2. Four tokens, equally often: ln 4.
  CHECK(unigram_entropy_nats({0, 1, 1, 0}, 4) == Approx(std::log(2.0)));
  CHECK(unigram_entropy_nats({0, 1, 2, 3}, 4) == Approx(std::log(4.0)));
  CHECK(unigram_entropy_nats({3, 3, 3}, 4) == Approx(0.0));
}

#ifdef TANDEM_TOKENIZE_BIN
namespace {
// `before`: shell words before the tool (a timeout, a ulimit); `out`: where its stdout goes.
int run_tool(const std::string& args, const std::string& before = "", const std::string& out = ">/dev/null") {
  const std::string cmd = before + " '" + TANDEM_TOKENIZE_BIN + "' " + args + " " + out + " 2>/dev/null";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("tandem-tokenize exits with 2 on bad input and writes nothing", "[data][tool]") {
  const auto dir = temp_dir("tool");
  const std::string d = dir.string();
  spit(dir / "text.txt", "one two three one two three one two\n");
  CHECK(run_tool("train " + d + "/text.txt --vocab 270 --out " + d + "/tok.json") == 0);
  CHECK(run_tool("encode " + d + "/text.txt --tokenizer " + d + "/tok.json --out " + d + "/t.tok") == 0);
  CHECK(run_tool("stats " + d + "/t.tok") == 0);
  // Missing text, empty text, malformed tokenizer, corrupt token file, unknown option.
  CHECK(run_tool("encode " + d + "/nope.txt --tokenizer " + d + "/tok.json --out " + d + "/x.tok") == 2);
  spit(dir / "empty.txt", "");
  CHECK(run_tool("train " + d + "/empty.txt --out " + d + "/x.json") == 2);
  spit(dir / "bad.json", "{\"format\": \"tandem-bpe\", \"version\": 2}");
  CHECK(run_tool("encode " + d + "/text.txt --tokenizer " + d + "/bad.json --out " + d + "/x.tok") == 2);
  std::string tokens = slurp(dir / "t.tok");
  spit(dir / "cut.tok", tokens.substr(0, tokens.size() - 3));
  CHECK(run_tool("decode " + d + "/cut.tok --tokenizer " + d + "/tok.json --out " + d + "/x.txt") == 2);
  CHECK(run_tool("stats") == 2);
  CHECK_FALSE(fs::exists(dir / "x.tok"));
  CHECK_FALSE(fs::exists(dir / "x.json"));
  CHECK_FALSE(fs::exists(dir / "x.txt"));
  fs::remove_all(dir);
}

TEST_CASE("tandem-tokenize refuses endless inputs and vast vocabularies and reports outputs it cannot write", "[data][tool]") {
  const auto dir = temp_dir("tool_limits");
  const std::string d = dir.string();
  spit(dir / "text.txt", "one two three one two three one two\n");
  REQUIRE(run_tool("train " + d + "/text.txt --vocab 270 --out " + d + "/tok.json") == 0);
  REQUIRE(run_tool("encode " + d + "/text.txt --tokenizer " + d + "/tok.json --out " + d + "/t.tok") == 0);
  // /dev/zero (directly and through a symlink) and a FIFO are refused before a byte is read; the
  // timeout turns a hang into a failure (exit code 124).
  fs::create_symlink("/dev/zero", dir / "zero.txt");
  REQUIRE(::mkfifo((dir / "fifo.txt").c_str(), 0600) == 0);
  for (const std::string& text : {std::string("/dev/zero"), d + "/zero.txt", d + "/fifo.txt"}) {
    INFO(text);
    CHECK(run_tool("train " + text + " --vocab 270 --out " + d + "/x.json", "timeout 60") == 2);
    CHECK(run_tool("encode " + text + " --tokenizer " + d + "/tok.json --out " + d + "/x.tok", "timeout 60") == 2);
  }
  CHECK(run_tool("stats " + d + "/fifo.txt", "timeout 60") == 2);
  // A token file announcing a vocabulary of 2^32 - 1 (its statistics would count 2^32 tokens: 32 GiB).
  std::string tokens = slurp(dir / "t.tok");
  for (int i = 0; i < 4; ++i) tokens[12 + i] = char(0xff);
  tokens[16] = 4;
  spit(dir / "vast.tok", tokens);
  CHECK(run_tool("stats " + d + "/vast.tok") == 2);
  CHECK(run_tool("train " + d + "/text.txt --vocab 4294967295 --out " + d + "/x.json") == 2);
  // Empty paths are refused, not read as "not given" (decode's --out would fall back to stdout).
  CHECK(run_tool("decode " + d + "/t.tok --tokenizer " + d + "/tok.json --out ''") == 2);
  CHECK(run_tool("train " + d + "/text.txt --out ''") == 2);
  // Standard output on a full device, a file size limit under an output: exit code 1, no partial file.
  CHECK(run_tool("decode " + d + "/t.tok --tokenizer " + d + "/tok.json", "", ">/dev/full") == 1);
  CHECK(run_tool("stats " + d + "/t.tok", "", ">/dev/full") == 1);
  spit(dir / "long.txt", std::string(200000, 'a'));
  CHECK(run_tool("train " + d + "/long.txt --vocab 260 --out " + d + "/x.json", "") == 0);
  CHECK(run_tool("encode " + d + "/long.txt --tokenizer " + d + "/x.json --out " + d + "/x.tok", "ulimit -f 16;") == 1);
  CHECK_FALSE(fs::exists(dir / "x.tok"));
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  CHECK(entries == 8);   // text, tok.json, t.tok, zero, fifo, vast.tok, long.txt, x.json: nothing half-written
  fs::remove_all(dir);
}
#endif
