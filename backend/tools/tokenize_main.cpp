// tandem-tokenize: turns text into token files for `tandem train` (docs/data.md).
//   train  TEXT --vocab N --out TOKENIZER.json     learn a byte-level BPE
//   encode TEXT --tokenizer T.json --out FILE.tok  write a token file (prints count and entropy)
//   decode FILE.tok --tokenizer T.json [--out TEXT]
//   stats  FILE.tok                                 tokens, vocabulary, unigram entropy
// Bad input (missing or unreadable files, a directory, FIFO or device, malformed tokenizer or token
// file, empty text, an empty option value) exits with 2 and writes nothing; an output that cannot be
// written (a full disk, standard output included) exits with 1 and leaves no partial file.
#include <cmath>
#include <csignal>
#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "backend/training/data/bpe_tokenizer.h"
#include "backend/training/data/token_file.h"
#include "io/input_error.h"
#include "io/input_file.h"
#include "io/option_values.h"
#include "io/output_file.h"
#include "io/standard_output.h"

using namespace tandem::backend;

namespace {

// The largest text read: 2 GiB (the text is held whole, with its words and tokens beside it).
constexpr uint64_t kMaxTextBytes = uint64_t(2) << 30;

std::string read_text(const std::string& path) {
  const std::string text = tandem::io::read_input_file(path, kMaxTextBytes, "a text file");
  if (text.empty()) throw DataError(fmt::format("{}: the text is empty (expected at least one byte)", path));
  return text;
}

void print_stats(const TokenFile& f, const std::string& name) {
  const double h = unigram_entropy_nats(f.tokens, f.vocab_size);
  fmt::print("{}: {} tokens, vocabulary {}, unigram entropy {:.4f} nats ({:.4f} bits) per token\n", name, f.tokens.size(),
             f.vocab_size, h, h / std::log(2.0));
}

int run_tokenize(int argc, char** argv) {
  CLI::App app{"tandem-tokenize: byte-level BPE tokenizer and token files for tandem train (docs/data.md)"};
  app.require_subcommand(1);
  std::string text_path, out_path, tokenizer_path, token_path;
  uint32_t vocab = 512;
  auto* train = app.add_subcommand("train", "learn a byte-level BPE tokenizer from a text");
  train->add_option("text", text_path, "UTF-8 text file")->required();
  train->add_option("--vocab", vocab, "vocabulary size (256 bytes + merges)")->check(CLI::Range(256u, 1u << 20));
  train->add_option("--out", out_path, "tokenizer JSON to write")->required();
  auto* encode = app.add_subcommand("encode", "encode a text into a token file");
  encode->add_option("text", text_path, "text file")->required();
  encode->add_option("--tokenizer", tokenizer_path, "tokenizer JSON")->required();
  encode->add_option("--out", out_path, "token file to write")->required();
  auto* decode = app.add_subcommand("decode", "decode a token file back into text");
  decode->add_option("tokens", token_path, "token file")->required();
  decode->add_option("--tokenizer", tokenizer_path, "tokenizer JSON")->required();
  decode->add_option("--out", out_path, "text file to write (default: standard output)");
  auto* stats = app.add_subcommand("stats", "token count, vocabulary and unigram entropy of a token file");
  stats->add_option("tokens", token_path, "token file")->required();
  tandem::io::refuse_empty_values(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);   // --help
    fmt::print(stderr, "error: {}\n", e.what());      // one line: the option, what was expected and found
    return 2;
  }
  // The output's place is tried before the work that fills it (a temporary file beside it, dropped):
  // a missing directory is bad input found now, not a failure after training.
  if (!out_path.empty() && !tandem::io::written_in_place(out_path)) {   // a FIFO is not opened to try
    try {
      tandem::io::OutputFile probe(out_path);
    } catch (const tandem::io::OutputError& e) {
      fmt::print(stderr, "error: --out: {}\n", e.what());
      return 2;
    }
  }
  try {
    if (*train) {
      const auto tok = BpeTokenizer::train(read_text(text_path), vocab);
      tandem::io::write_output_file(out_path, tok.to_json());
      fmt::print("{}: {} merges, vocabulary {}\n", out_path, tok.merges().size(), tok.vocab_size());
    } else if (*encode) {
      const auto tok = BpeTokenizer::load(tokenizer_path);
      TokenFile f;
      f.vocab_size = tok.vocab_size();
      f.tokens = tok.encode(read_text(text_path));
      write_token_file(out_path, f);
      print_stats(f, out_path);
    } else if (*decode) {
      const auto tok = BpeTokenizer::load(tokenizer_path);
      const TokenFile f = read_token_file(token_path);
      if (f.vocab_size > tok.vocab_size())
        throw DataError(fmt::format("{}: vocabulary {} is larger than the tokenizer's {} ({})", token_path, f.vocab_size,
                                    tok.vocab_size(), tokenizer_path));
      const std::string text = tok.decode(f.tokens);
      if (out_path.empty()) std::fwrite(text.data(), 1, text.size(), stdout);
      else tandem::io::write_output_file(out_path, text);
    } else if (*stats) {
      print_stats(read_token_file(token_path), token_path);
    }
  } catch (const DataError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const tandem::io::InputError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGXFSZ, SIG_IGN);   // a file size limit is a write error reported with exit 1, not a kill
  return tandem::io::finish_standard_output(run_tokenize(argc, argv));
}
