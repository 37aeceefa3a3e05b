// The registration list: every pipeline troupe knows, one line each, in the
// order the loader lists them. A pipeline NAME lives in workflows/NAME/ and
// provides NAME_rules() (its loader half, NAME_descriptor.cpp) and
// NAME_pipeline() (its runtime half: factory, role specs, tool roles).
// Adding a pipeline is its folder plus one X(NAME) here
// (docs/adding-a-pipeline.md).
#pragma once

#define TROUPE_PIPELINES(X) \
  X(spoc)                   \
  X(linc)                   \
  X(leap)                   \
  X(iad)                    \
  X(archon)                 \
  X(coc)
