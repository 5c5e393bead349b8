/* The dark theme for Plotly charts.
 *
 * Figures come from the server in the light template. When <html data-theme="dark"> is set (by the
 * index page before the first paint, then by the top bar's toggle), every Plotly.react call draws
 * the figure with the dark template and the dark counterparts of the builders' explicit colours
 * (both from dashboards/theme.py, handed over as window.FW_THEME by the index page). The figure
 * Dash handed in is kept on the graph, so switching the theme redraws every chart from it at once.
 */
(function () {
    "use strict";

    // Paper is white: while printing, charts are drawn light whatever the screen's theme.
    let printing = false;

    function dark() {
        return !printing && document.documentElement.getAttribute("data-theme") === "dark";
    }

    function redrawAll() {
        if (!window.Plotly) return;
        for (const gd of document.querySelectorAll(".js-plotly-plot")) {
            if (gd.__fwSource) window.Plotly.react(gd, gd.__fwSource);
        }
    }

    function recolour(value, colours) {
        if (typeof value === "string") {
            const swap = colours[value.toLowerCase()];
            return swap === undefined ? value : swap;
        }
        if (Array.isArray(value)) {
            // Long arrays are data (numbers, dates): only arrays of colour strings are worth a look.
            if (value.length > 64 && typeof value[0] !== "string") return value;
            return value.map(v => recolour(v, colours));
        }
        if (value && typeof value === "object") {
            const out = {};
            for (const key of Object.keys(value)) {
                // x, y and customdata are data, never colours.
                out[key] = key === "x" || key === "y" || key === "customdata" ? value[key] : recolour(value[key], colours);
            }
            return out;
        }
        return value;
    }

    function themed(figure) {
        const spec = window.FW_THEME;
        if (!dark() || !spec || !figure) return figure;
        const layout = recolour(Object.assign({}, figure.layout || {}, {template: undefined}), spec.colors);
        layout.template = spec.template;
        return Object.assign({}, figure, {data: recolour(figure.data || [], spec.colors), layout: layout});
    }

    function patch(plotly) {
        if (!plotly || plotly.__fwThemed) return plotly;
        const react = plotly.react;
        plotly.react = function (gd, figure, ...rest) {
            // dcc.Graph calls react(gd, {data, layout, frames, config}); keep the source to redraw on a toggle.
            if (rest.length === 0 && figure && !Array.isArray(figure) && typeof gd === "object") {
                gd.__fwSource = figure;
                return react.call(this, gd, themed(figure));
            }
            return react.call(this, gd, figure, ...rest);
        };
        plotly.__fwThemed = true;
        return plotly;
    }

    if (window.Plotly) {
        patch(window.Plotly);
    } else {
        let plotly;
        Object.defineProperty(window, "Plotly", {
            configurable: true,
            enumerable: true,
            get() { return plotly; },
            set(value) { plotly = patch(value); },
        });
    }

    /** Set the theme on <html> and redraw the charts already on the page. */
    window.fwApplyTheme = function (theme) {
        const wanted = theme === "dark" ? "dark" : "light";
        if (document.documentElement.getAttribute("data-theme") === wanted) return wanted;
        document.documentElement.setAttribute("data-theme", wanted);
        redrawAll();
        return wanted;
    };

    window.addEventListener("beforeprint", () => {
        printing = true;
        if (document.documentElement.getAttribute("data-theme") === "dark") redrawAll();
    });
    window.addEventListener("afterprint", () => {
        printing = false;
        if (document.documentElement.getAttribute("data-theme") === "dark") redrawAll();
    });
})();
