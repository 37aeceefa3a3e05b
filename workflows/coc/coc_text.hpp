// Text pieces of Chain-of-Clarifications (pipelines.md §6): chunking a long
// context by (approximate) token count, the <para i> markup, the grounder's
// relevance reading, the pointback string, the self-check's JSON verdict,
// and the paraphrase pools prompts are drawn from. Pure functions, no CAF;
// safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::workflows::coc {

// --- Chunking (§6(a1) setup: 512-token chunks) ------------------------------
// The Backend interface has no tokenizer call, so tokens are approximated by
// word pieces: a run of letters/digits (bytes >= 0x80 count as letters) is
// cut into pieces of at most kPieceBytes bytes (never inside a UTF-8
// character), and every other non-space character is a piece of its own.
// English text averages about 1.2-1.4 pieces per word, close to BPE counts.
inline constexpr size_t kPieceBytes = 6;

// [begin, end) byte ranges of the pieces, in order.
std::vector<std::pair<size_t, size_t>> word_pieces(std::string_view text);
inline size_t approx_tokens(std::string_view text) { return word_pieces(text).size(); }

// Consecutive runs of at most `chunk_tokens` pieces. A chunk ends before a
// word that would not fit whole (a long word's pieces stay together) unless
// that word alone is longer than a chunk. Each chunk is the original text
// from its first piece to its last, so the chunks joined with single spaces
// lose only whitespace. Empty or all-space text has no chunks.
// chunk_tokens < 1 is treated as 1.
std::vector<std::string> split_chunks(std::string_view text, int chunk_tokens);

// "<para 0> c0 </para 0>\n<para 1> c1 </para 1>..." (§6(c)).
std::string mark_context(const std::vector<std::string>& chunks);

// --- Grounding (§6(a1) steps 1 and 3.2) -------------------------------------
// Whether the grounder found a chunk relevant: the text after the LAST
// "answer:" (case-insensitive; the whole text when there is none) must not
// contain the WORD "no". The reference tests the substring, so "not sure",
// "know" or "none" counted as no (§6(g) caveat 2); here only "no" standing
// alone (between non-letters/digits) does.
bool relevant(std::string_view grounder_reply);

inline constexpr const char* kPointbackLead = "The following pieces of context were found to be helpful for the question:";
inline constexpr const char* kNoContext = "No context was found to be helpful for the question.";

// The pointback string: kPointbackLead, a line break, then "<para i>" for
// each kept chunk joined by spaces; kNoContext when none was kept.
std::string pointback(const std::vector<size_t>& kept);
// The kept chunks' text joined with "...\n\n..."; kNoContext when none.
std::string retrieved_text(const std::vector<std::string>& chunks, const std::vector<size_t>& kept);

// --- Self-check (§6(a1) step 3.5, §6(c)) ------------------------------------
// Reads the termination JSON {"explanations": ..., "answer": "Yes"|"No"}:
// the first '{' to the last '}' parsed as JSON with an "answer" string;
// else the last `"answer": "yes|no"` written loosely (quotes optional,
// any case, inside code fences or broken JSON); else scoring::parse_verdict
// on the whole text. Returns 1 yes, 0 no, -1 nothing readable.
int parse_self_check(std::string_view text);

// --- Prompts ----------------------------------------------------------------
// Paraphrase pools (troupe's own wording; the reference draws from 100+
// paraphrases each). {question} is replaced by the input question.
const std::vector<std::string>& system_prompts();
const std::vector<std::string>& clarify_prompts();
const std::vector<std::string>& termination_prompts();

// The grounder's relevance check; {question} and {chunk}.
extern const char* const kRelevanceTemplate;
// The training-format user turns of §6(a1) step 7 / §6(a2).
inline constexpr const char* kHelpPrompt = "Help me find relevant context to answer the previous clarifying question.";
inline constexpr const char* kBasedPrompt = "Based on the relevant context, answer the previous clarifying question.";
// The final-question prompt; {question}.
inline constexpr const char* kFinalTemplate = "Now, let's answer the final question, be concise in your answer. {question}";
// Generation-time turns (the reference's data generator): the clarification
// is answered from the retrieved text, the full context is left out.
inline constexpr const char* kOmitted = "[Omitted context that you have seen]";
inline constexpr const char* kAnswerWithContext =
    "Answer the question you asked with the given context, and summarize your findings as well.\n\nContext:\n";
inline constexpr const char* kRelatedContext = "Related context is given:\n";
// The optional LLM judge (off by default); {question} {gold} {prediction}.
extern const char* const kJudgeTemplate;

// The run's RNG seed: the workflow's `seed` param mixed with the item id
// (FNV-1a), so a run replays identically and items differ.
uint64_t item_seed(int64_t seed, const std::string& item_id);

std::string trim(std::string_view s);

}  // namespace troupe::workflows::coc
