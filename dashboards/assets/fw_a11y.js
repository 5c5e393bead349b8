/* Accessible names and roles Dash 4's RadioItems does not give.
 *
 * dcc.RadioItems renders a role="listbox" whose role="option" labels each hold a radio input:
 * a nameless listbox and interactive controls nested in interactive controls (axe: serious). The
 * radios themselves are the accessible control, so the group becomes a named radiogroup and the
 * labels plain labels. Every RadioItems in Flowwatch is a segmented time range or period picker;
 * a `title` on its wrapper names it otherwise. Kept by a MutationObserver, as React re-renders.
 */
(function () {
    "use strict";

    function repair(group) {
        if (group.getAttribute("role") !== "radiogroup") group.setAttribute("role", "radiogroup");
        if (!group.hasAttribute("aria-label")) {
            const named = group.closest("[title]");
            group.setAttribute("aria-label", named ? named.getAttribute("title") : "Time range");
        }
        for (const option of group.querySelectorAll(":scope > [role='option']")) {
            option.removeAttribute("role");
            option.removeAttribute("aria-selected");
        }
    }

    function sweep(root) {
        for (const group of root.querySelectorAll(".dash-radioitems[role='listbox'], .dash-radioitems [role='option']")) {
            repair(group.classList.contains("dash-radioitems") ? group : group.closest(".dash-radioitems"));
        }
    }

    new MutationObserver(() => sweep(document)).observe(document.documentElement, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: ["role", "aria-selected"],
    });
})();
