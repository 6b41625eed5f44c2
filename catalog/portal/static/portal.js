// Filters the API table as you type; the URL's ?q=&type=&lifecycle=&namespace= preset them.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) { return; }
  var fields = ["q", "type", "lifecycle", "namespace"].map(function (id) {
    return document.getElementById(id);
  });
  var rows = Array.prototype.slice.call(document.querySelectorAll("#apis tbody tr"));
  var params = new URLSearchParams(window.location.search);
  fields.forEach(function (field) {
    if (params.has(field.id)) { field.value = params.get(field.id); }
  });

  function apply() {
    var words = fields[0].value.toLowerCase().split(/\s+/).filter(Boolean);
    var type = fields[1].value, lifecycle = fields[2].value, namespace = fields[3].value;
    var shown = 0;
    rows.forEach(function (row) {
      var text = row.getAttribute("data-search");
      var ok = words.every(function (w) { return text.indexOf(w) !== -1; })
        && (!type || row.getAttribute("data-type") === type)
        && (!lifecycle || row.getAttribute("data-lifecycle") === lifecycle)
        && (!namespace || row.getAttribute("data-namespace").split(" ").indexOf(namespace) !== -1);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.getElementById("shown").textContent = String(shown);
    document.getElementById("none").hidden = shown !== 0;
  }

  fields.forEach(function (field) {
    field.addEventListener("input", apply);
    field.addEventListener("change", apply);
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  apply();
}());

// The graph page: a changed cluster, run, namespace or view applies at once (the form works without).
(function () {
  "use strict";
  var form = document.getElementById("graph-filters");
  if (!form) { return; }
  Array.prototype.forEach.call(form.querySelectorAll("select"), function (select) {
    select.addEventListener("change", function () {
      if (select.id === "graph-cluster") {
        // Another cluster: its newest run and its whole mesh (disabled fields are not sent).
        ["graph-run-select", "graph-namespace"].forEach(function (id) {
          var other = document.getElementById(id);
          if (other) { other.disabled = true; }
        });
      }
      form.submit();
    });
  });
}());
