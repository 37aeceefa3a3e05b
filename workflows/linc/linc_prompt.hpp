// LINC's translator prompt (pipelines.md §5(a) step 1): instructions,
// few-shot examples written for this project (not LINC's), then the test
// item with <EVALUATE> left open; the role stops at </EVALUATE>. Template
// variables: {premises} (one sentence per line) and {conclusion}.
#pragma once

#include "actors/roles.hpp"

namespace troupe::workflows {

// The translator role's defaults: the prompt above, K = 10 samples at
// temperature 0.8, top_p 0.95, stop "</EVALUATE>", 1024 tokens.
actors::RoleSpec linc_translator_spec();

}  // namespace troupe::workflows
