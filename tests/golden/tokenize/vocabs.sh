# Sourced by scripts/golden/gen_tokenize_golden.sh and tests/golden/test_tokenize.sh: the
# vocabularies of the tokenizer golden test and how to get each as a GGUF file.
#
#   TOK_VOCABS      the names, one golden file tests/golden/tokenize/<name>.golden each
#   tok_vocab_path NAME BATON FIXTURES TMPDIR
#                   prints the GGUF path for NAME, building it in TMPDIR when it is derived:
#                   smollm2 from SmolLM2's tokenizer.json by baton's importer, deepseek-llm
#                   and default by copying a fixture's tokenizer keys with another pre name
#                   (no fixture uses those pre-tokenizers); nothing derived is committed.
#   TOK_MODES       how each corpus file is tokenized: raw (every file), escape and nospecial
#                   (the files named in TOK_ESCAPE_FILES / TOK_NOSPECIAL_FILES)
#   tok_mode_flags MODE   the flags, the same for baton tokenize and llama-tokenize

TOK_VOCABS="llama-spm phi-3 llama-bpe qwen2 gpt-2 starcoder deepseek-coder falcon smollm2 deepseek-llm default"
TOK_ESCAPE_FILES="code_c.txt special.txt"
TOK_NOSPECIAL_FILES="special.txt"

tok_vocab_path() {
  local name=$1 baton=$2 fix=$3 tmp=$4
  case "$name" in
    smollm2)
      "$baton" tokenize --import-json "$fix/vocab/smollm2-135m-tokenizer.json" \
        --write-vocab "$tmp/smollm2.gguf" >&2 || return 1
      echo "$tmp/smollm2.gguf" ;;
    deepseek-llm)
      "$baton" tokenize -m "$fix/vocab/ggml-vocab-deepseek-coder.gguf" --pre deepseek-llm \
        --write-vocab "$tmp/deepseek-llm.gguf" >&2 || return 1
      echo "$tmp/deepseek-llm.gguf" ;;
    default)
      "$baton" tokenize -m "$fix/vocab/ggml-vocab-gpt-2.gguf" --pre default \
        --write-vocab "$tmp/default.gguf" >&2 || return 1
      echo "$tmp/default.gguf" ;;
    *)
      echo "$fix/vocab/ggml-vocab-$name.gguf" ;;
  esac
}

tok_mode_flags() {
  case "$1" in
    raw) echo "--ids --no-escape" ;;
    escape) echo "--ids" ;;
    nospecial) echo "--ids --no-escape --no-parse-special" ;;
  esac
}

# Prints "file mode" for every case, in golden-file order.
tok_cases() {
  local corpus=$1 f base
  for f in "$corpus"/*.txt; do
    base=$(basename "$f")
    echo "$base raw"
    case " $TOK_ESCAPE_FILES " in *" $base "*) echo "$base escape" ;; esac
    case " $TOK_NOSPECIAL_FILES " in *" $base "*) echo "$base nospecial" ;; esac
  done
}
