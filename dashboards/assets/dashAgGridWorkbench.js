// Cell renderers of the exception workbench grid (dash_ag_grid), looked up by name from columnDefs.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

// Age since first seen, with its aging band as a pill that gets warmer as the exception gets staler.
dagcomponentfuncs.AgeBand = function (props) {
  if (!props.data) { return null; }
  return React.createElement(
    "span", { className: "ex-age" },
    React.createElement("span", { className: "ex-age-value" }, props.value),
    React.createElement("span", { className: "ex-band ex-band-" + props.data.age_level }, props.data.age_band)
  );
};

// Lifecycle status as a pill, and a second one while the exception is snoozed out of the default view.
dagcomponentfuncs.ExceptionStatus = function (props) {
  if (!props.data) { return null; }
  var pills = [React.createElement("span", { key: "s", className: "badge badge-" + props.value }, props.value)];
  if (props.data.snoozed) {
    pills.push(React.createElement("span", { key: "z", className: "badge badge-idle ex-snoozed" }, "snoozed"));
  }
  return React.createElement("span", { className: "ex-status" }, pills);
};

// Long text (titles, flow names) on at most two lines, ellipsed; the full text is in the tooltip.
dagcomponentfuncs.TwoLines = function (props) {
  return React.createElement("div", { className: "ex-clamp" }, props.value);
};

// An exception's title that opens it in the workbench (a dcc.Link: no page reload).
dagcomponentfuncs.ExceptionLink = function (props) {
  if (!props.data) { return null; }
  return React.createElement(window.dash_core_components.Link, {
    href: "/exceptions?id=" + encodeURIComponent(props.data.exception_id),
    className: "fw-cell-link",
    children: props.value,
  });
};
