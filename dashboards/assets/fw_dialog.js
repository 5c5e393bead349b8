/* In-page confirmations (.fw-dialog-backdrop): focus goes to the dialog's primary button when it
 * opens, Escape presses its Cancel (the first .button-quiet), so a keyboard user never needs the mouse. */
(function () {
  "use strict";

  function openDialog() {
    return Array.from(document.querySelectorAll(".fw-dialog-backdrop")).find(function (d) { return !d.hidden; });
  }

  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      const dialog = change.target;
      if (change.attributeName === "hidden" && dialog.classList.contains("fw-dialog-backdrop") && !dialog.hidden) {
        const primary = dialog.querySelector(".button-primary");
        if (primary) { primary.focus(); }
      }
    });
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["hidden"], subtree: true });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    const dialog = openDialog();
    const cancel = dialog && dialog.querySelector(".fw-dialog-actions .button-quiet");
    if (cancel) { event.preventDefault(); cancel.click(); }
  });
})();
