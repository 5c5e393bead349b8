// A status pill whose colour comes from another field of the row (cellRendererParams.kindField),
// so the grid can say "Failing" in the breach colour, like the server-rendered badges.
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

dagcomponentfuncs.StatusBadge = function (props) {
  var kind = (props.data && props.data[props.colDef.cellRendererParams.kindField]) || "idle";
  return React.createElement("span", { className: "badge badge-" + kind }, props.value);
};
