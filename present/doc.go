// Package present decides everything clinical about what a screen shows of
// one patient, once, below every screen. It imports record only. The
// window (Fyne), `kmcr show` (text and --json) and the patient portal
// (HTML) map its result, a View of plain data, to widgets, text or HTML;
// none of them decides anything clinical itself.
//
// Present(nhs, summary, facts, options) makes the View:
//
//   - the Banner in NHS Common User Interface forms: "SMITH, Jane Ann
//     (Mrs)", "12-Mar-1962 (64y)" with the age stopping at death,
//     "943 476 5919", the address (withheld for a restricted record), and
//     "DECEASED 02-Jan-2026";
//   - the critical-facts line (Critical): resuscitation status (DNACPR,
//     ReSPECT, or that none is recorded or available), allergies with the
//     most dangerous first, and safeguarding;
//   - "as of" and staleness, in the summary line and every section;
//   - Notices, first on the screen: emergency access, stale, restricted
//     sharing, too large, sensitive information withheld, the offline copy
//     ending, an NHS number assigned from the test range, the front desk's
//     limits;
//   - the live alerts (active, not entered in error, period not ended), in
//     the order DNACPR, ReSPECT, safeguarding, falls, others, each with its
//     level; when none is live, whether none is recorded, none was shared
//     or they were withheld;
//   - the sections, each saying why it is withheld, "none recorded" (only
//     when a source says so) against "not available", with its items in
//     groups (current, past, and "entered in error or refuted", struck
//     through with the word and never counted), observations grouped into
//     kinds with trends and every reading, documents' narrative beside the
//     structured section it is about (a Summary Care Record's allergies),
//     the documents themselves, demographics (with any disagreement between
//     sources) and GP;
//   - a count of what the record holds but the summary does not show.
//
// Text carries its emphasis as a Level (normal, muted, panel, patient,
// good, caution, danger) and flags (strong, large, small, struck), never
// as colours: every clinical fact is also in the words, so a screen without
// colour loses nothing.
package present
