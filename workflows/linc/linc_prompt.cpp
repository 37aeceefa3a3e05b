#include "workflows/linc/linc_prompt.hpp"

namespace troupe::workflows {
namespace {

// Three worked examples of our own: a universal rule, a negated universal
// with an existential, and an exclusive "either ... or" with relations.
const char* kPrompt = R"(Translate a reasoning problem into first-order logic for a theorem prover.
For each premise, and then for the conclusion, write one line "TEXT:" with the sentence and one line "FOL:" with its formula.
Syntax: all x. (...) and exists x. (...) for quantifiers; - for not, & for and, | for or, -> for implies, <-> for if and only if; = for equality.
Predicates and constants are CamelCase words (Owns(Mara, Bow)); variables are single lowercase letters. Use the same predicate for the same idea everywhere.

<PREMISES>
Every violinist in the orchestra owns a bow.
Mara is a violinist in the orchestra.
</PREMISES>
<CONCLUSION>
Mara owns a bow.
</CONCLUSION>
<EVALUATE>
TEXT:	Every violinist in the orchestra owns a bow.
FOL:	all x. (OrchestraViolinist(x) -> OwnsBow(x))
TEXT:	Mara is a violinist in the orchestra.
FOL:	OrchestraViolinist(Mara)
TEXT:	Mara owns a bow.
FOL:	OwnsBow(Mara)
</EVALUATE>

<PREMISES>
No reptile in the zoo is warm-blooded.
Some animals in the zoo are reptiles.
Kiko is a warm-blooded animal in the zoo.
</PREMISES>
<CONCLUSION>
Kiko is a reptile.
</CONCLUSION>
<EVALUATE>
TEXT:	No reptile in the zoo is warm-blooded.
FOL:	all x. (ZooReptile(x) -> -WarmBlooded(x))
TEXT:	Some animals in the zoo are reptiles.
FOL:	exists x. (ZooAnimal(x) & ZooReptile(x))
TEXT:	Kiko is a warm-blooded animal in the zoo.
FOL:	ZooAnimal(Kiko) & WarmBlooded(Kiko)
TEXT:	Kiko is a reptile.
FOL:	ZooReptile(Kiko)
</EVALUATE>

<PREMISES>
Each ferry departs either from Harbor Point or from Gull Island, but not from both.
Ferry Seven is a ferry that departs from Gull Island.
Every ferry that departs from Harbor Point carries cars.
</PREMISES>
<CONCLUSION>
Ferry Seven carries cars.
</CONCLUSION>
<EVALUATE>
TEXT:	Each ferry departs either from Harbor Point or from Gull Island, but not from both.
FOL:	all x. (Ferry(x) -> ((DepartsFrom(x, HarborPoint) & -DepartsFrom(x, GullIsland)) | (-DepartsFrom(x, HarborPoint) & DepartsFrom(x, GullIsland))))
TEXT:	Ferry Seven is a ferry that departs from Gull Island.
FOL:	Ferry(FerrySeven) & DepartsFrom(FerrySeven, GullIsland)
TEXT:	Every ferry that departs from Harbor Point carries cars.
FOL:	all x. (Ferry(x) & DepartsFrom(x, HarborPoint) -> CarriesCars(x))
TEXT:	Ferry Seven carries cars.
FOL:	CarriesCars(FerrySeven)
</EVALUATE>

<PREMISES>
{premises}
</PREMISES>
<CONCLUSION>
{conclusion}
</CONCLUSION>
<EVALUATE>
)";

}  // namespace

actors::RoleSpec linc_translator_spec() {
  actors::RoleSpec spec;
  spec.name = "translator";
  spec.kind = actors::RoleKind::plain;
  spec.template_text = kPrompt;
  spec.sampling.n = 10;
  spec.sampling.temperature = 0.8;
  spec.sampling.top_p = 0.95;
  spec.sampling.max_tokens = 1024;
  spec.sampling.stop = {"</EVALUATE>"};
  spec.parse_retries = 0;
  return spec;
}

}  // namespace troupe::workflows
