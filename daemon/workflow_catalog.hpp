// The workflows a daemon serves, and how a run's workflow is tied to one
// of the daemon's backends.
//
// WorkflowCatalog reads every *.yaml / *.yml file directly in the configured
// folder once, at start (regular files only, at most 1 MiB each). These are
// the operator's workflows: they may name commands and programs, and files
// inside the folder (docs/daemon.md, "Trust model"). Clients name a workflow by its file name without
// extension; a name is looked up in that list and never used as a path, so
// "../x" or "a/b" cannot reach a file outside the folder (such names are
// refused as invalid_argument before any lookup). A file that is not a
// valid workflow (for example a scripted fixture kept beside the workflows)
// stays listed with its load error, returned when it is asked for.
//
// bind_workflow() makes the text a run executes: the workflow with its
// `backend` section replaced by the chosen daemon backend's (a workflow
// submitted inline may leave `backend` out). The bound text is self-
// contained: stored as a blob under its sha256 (the run's workflow_hash), it
// is all a restarted daemon needs to run the same workflow again. Errors in
// the workflow itself keep the file:line:col of the text as given.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "daemon/config.hpp"
#include "workflows/workflow.hpp"

namespace troupe::daemon {

struct CatalogEntry {
  std::string name;   // file name without extension
  std::string path;   // absolute
  std::string text;
  std::string error;  // non-empty: the file is not a valid workflow
};

class WorkflowCatalog {
 public:
  static Result<WorkflowCatalog> load(const std::string& dir);

  // invalid_argument for a name that is not a plain file name, not_found
  // for an unknown one, parse (the load error) for a file that did not load.
  Result<const CatalogEntry*> find(const std::string& name) const;
  // Names of the valid workflows, sorted.
  std::vector<std::string> names() const;
  const std::string& dir() const { return dir_; }
  // What the catalog's workflows may name: trusted, files inside dir().
  workflows::LoadOptions load_options() const;

 private:
  std::string dir_;
  std::map<std::string, CatalogEntry> entries_;
};

// True for names made of letters, digits, '_', '-' and '.', not starting with '.'.
bool valid_workflow_name(const std::string& name);

struct BoundWorkflow {
  std::string text;  // what runs; its sha256 is workflow.text_hash
  workflows::Workflow workflow;
};

// `where` names the text in errors and anchors its relative paths.
// `options` say what the text may name (workflows/workflow.hpp, LoadOptions):
// the catalog's files are trusted with base_dir = the workflows folder; an
// inline workflow is untrusted (no programs, files or environment
// variables; its own `backend`, if any, is checked the same way and then
// replaced).
Result<BoundWorkflow> bind_workflow(const std::string& text, const std::string& where, const NamedBackend& backend,
                                    const workflows::LoadOptions& options);

}  // namespace troupe::daemon
