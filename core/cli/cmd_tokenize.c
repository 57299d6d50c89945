/* pq tokenize — the token ids of text, one output line per input line, with any
 * tokenizer pq reads (eval/tokenizer.h): to look at what a model sees, and what
 * the tests compare with the reference encoders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/tokenizer.h"

static void usage(void) {
    printf("usage: pq tokenize --tokenizer FILE [--in FILE] [--bos]\n"
           "\n"
           "Encodes each line of the input (default stdin; the line end is not part of\n"
           "the text) and prints its token ids separated by spaces, one line per line.\n"
           "\n"
           "  --tokenizer FILE  pq's tokenizer.bpe, a Hugging Face tokenizer.json (BPE: byte-level\n"
           "                    or SentencePiece-style) or a SentencePiece tokenizer.model\n"
           "  --in FILE         read lines from FILE\n"
           "  --bos             start each line with the BOS id pq eval would use\n");
}

int cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize", *path = NULL, *in = NULL;
    int with_bos = 0;
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--in") && i + 1 < argc) in = argv[++i];
        else if (!strcmp(argv[i], "--bos")) with_bos = 1;
        else pq_usage_error(cmd, "unknown or incomplete option '%s'", argv[i]);
    }
    if (!path) pq_usage_error(cmd, "--tokenizer is required");
    pq_eval_tokenizer tok;
    pq_tokenizer_info info;
    if (pq_eval_tokenizer_open(path, -1, &tok, &info)) {
        fprintf(stderr, "pq tokenize: %s\n", pq_error());
        return 1;
    }
    int rc = 1;
    FILE *f = in ? fopen(in, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "pq tokenize: %s: cannot open\n", in);
        goto done;
    }
    if (with_bos && tok.bos < 0) {
        fprintf(stderr, "pq tokenize: %s: no BOS id (no config.json bos_token_id beside it, none in the tokenizer)\n", path);
        goto done;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n && line[n - 1] == '\n') n--;
        int32_t *ids;
        int k;
        if (tok.encode(tok.impl, line, (size_t)n, &ids, &k)) {
            fprintf(stderr, "pq tokenize: %s\n", pq_error());
            rc = 1;
            break;
        }
        if (with_bos) printf("%d%s", (int)tok.bos, k ? " " : "");
        for (int i = 0; i < k; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
        free(ids);
    }
    free(line);
    if (in) fclose(f);
done:
    tok.free(tok.impl);
    return rc;
}
