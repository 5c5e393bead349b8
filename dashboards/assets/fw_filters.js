/* The shell's fw-query store holds the URL's current query string, whoever changed it: a page that
 * writes its own range (or anything else) without a reload calls window.fwPushState(url[, replace])
 * instead of history.pushState (replaceState), and every navigation (a link, a filter, back and
 * forward) is caught here. The shell's links and filters read it (dcc.Location does not see a bare
 * pushState, so its own search may be stale).
 */
(function () {
    "use strict";

    function tell() {
        if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props("fw-query", {data: window.location.search});
        }
    }

    window.fwPushState = function (url, replace) {
        if (replace) { window.history.replaceState(null, "", url); } else { window.history.pushState(null, "", url); }
        tell();
    };
    // The global filters (names → picked values) into the URL, keeping the rest of its query; a change
    // loads the page for the new URL (so a pasted link and the page always agree).
    window.fwFilter = function (names, values) {
        const params = new URLSearchParams(window.location.search);
        names.forEach((name, i) => { if (values[i]) { params.set(name, values[i]); } else { params.delete(name); } });
        const search = params.toString() ? "?" + params.toString() : "";
        if (search !== window.location.search) { window.location.assign(window.location.pathname + search); }
    };
    window.addEventListener("popstate", tell);
    window.addEventListener("_dashprivate_pushstate", tell);
})();
