// Cell renderers for dash_ag_grid, looked up by name from columnDefs ("cellRenderer").
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

// A severity as a coloured pill, the same classes as the server-rendered badges.
dagcomponentfuncs.SeverityBadge = function (props) {
  var value = props.value || "";
  return React.createElement("span", { className: "badge badge-" + value }, value);
};
