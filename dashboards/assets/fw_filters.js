/* A page that writes its own range (or anything else) into the URL without a reload calls
 * window.fwPushState(url[, replace]) instead of history.pushState (replaceState): the shell's links then carry the new range
 * (its fw-query store takes the new query string; dcc.Location does not see a bare pushState).
 */
(function () {
    "use strict";
    window.fwPushState = function (url, replace) {
        if (replace) { window.history.replaceState(null, "", url); } else { window.history.pushState(null, "", url); }
        if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props("fw-query", {data: window.location.search});
        }
    };
})();
