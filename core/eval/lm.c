#include "eval/lm.h"

#include "base/util.h"

int pq_lm_check_tokenizer(const pq_lm *lm, const pq_eval_tokenizer *tok, const char *model_name,
                          const char *tokenizer_name) {
    if (lm->vocab_size != tok->vocab_size)
        return pq_fail("%s: vocabulary of %d tokens does not match tokenizer %s (%d tokens); "
                       "was the model trained with another tokenizer?",
                       model_name, lm->vocab_size, tokenizer_name, tok->vocab_size);
    if (tok->bos < 0 || tok->bos >= lm->vocab_size)
        return pq_fail("%s: BOS id %d is outside the vocabulary (%d)", tokenizer_name, (int)tok->bos, lm->vocab_size);
    return 0;
}
