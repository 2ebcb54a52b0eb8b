/* The segment builder: edits the rule tree ({op, items}) with labelled selects and asks for a live count. */
(function () {
  "use strict";
  var root = document.getElementById("segment-rule-builder");
  if (!root) { return; }
  var catalogue = JSON.parse(document.getElementById("segment-catalogue").textContent);
  var rule = JSON.parse(document.getElementById("segment-rule").textContent) || { op: "and", items: [] };
  var texts = JSON.parse(document.getElementById("segment-texts").textContent);
  var form = document.getElementById("segment-form");
  var hidden = document.getElementById("segment-rule-input");
  var countBox = document.getElementById("segment-preview-count");
  var sampleBox = document.getElementById("segment-preview-sample");
  var errorBox = document.getElementById("segment-rule-error");
  var readonly = root.dataset.readonly === "1";
  var byKey = {};
  catalogue.forEach(function (condition) { byKey[condition.key] = condition; });
  var timer = null;
  var asked = 0;

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) { node.textContent = text; }
    if (readonly && (tag === "select" || tag === "input" || tag === "button")) { node.disabled = true; }
    return node;
  }

  function select(options, value, className) {
    var node = element("select", { "class": "seg-select " + (className || "") });
    options.forEach(function (option) {
      var item = element("option", { value: option.value }, option.label);
      if (String(option.value) === String(value)) { item.selected = true; }
      node.appendChild(item);
    });
    return node;
  }

  function button(label, className, onClick) {
    var node = element("button", { type: "button", "class": "seg-button " + (className || "") }, label);
    node.addEventListener("click", function () { onClick(); changed(); });
    return node;
  }

  function newCondition() {
    var first = catalogue[0];
    return { field: first.key, operator: first.operators[0].value, value: first.choices.length ? first.choices[0].value : "" };
  }

  function renderCondition(item, parent, index) {
    var row = element("div", { "class": "seg-row", "data-testid": "condition-row" });
    var condition = byKey[item.field] || catalogue[0];
    var fields = select(catalogue.map(function (c) { return { value: c.key, label: c.label }; }), condition.key, "seg-field");
    fields.addEventListener("change", function () {
      var next = byKey[fields.value];
      item.field = next.key;
      item.operator = next.operators[0].value;
      item.value = next.choices.length ? next.choices[0].value : "";
      render(); changed();
    });
    var operators = select(condition.operators, item.operator, "seg-operator");
    operators.addEventListener("change", function () { item.operator = operators.value; changed(); });
    var value;
    if (condition.choices.length) {
      value = select(condition.choices, item.value, "seg-value");
      if (!item.value) { item.value = condition.choices[0].value; }
      value.addEventListener("change", function () { item.value = value.value; changed(); });
    } else {
      value = element("input", { "class": "seg-input seg-value", value: item.value === undefined ? "" : item.value,
        inputmode: condition.kind === "number" ? "decimal" : "text" });
      value.addEventListener("input", function () { item.value = value.value; changed(); });
    }
    row.appendChild(fields); row.appendChild(operators); row.appendChild(value);
    row.appendChild(button(texts.remove, "seg-remove", function () { parent.items.splice(index, 1); render(); }));
    return row;
  }

  function renderGroup(group, parent, index, depth) {
    var box = element("div", { "class": "seg-group", "data-testid": "condition-group" });
    var head = element("div", { "class": "seg-group-head" });
    var op = select([{ value: "and", label: texts.and }, { value: "or", label: texts.or }], group.op, "seg-op");
    op.addEventListener("change", function () { group.op = op.value; changed(); });
    head.appendChild(op);
    if (parent) {
      head.appendChild(button(texts.remove, "seg-remove", function () { parent.items.splice(index, 1); render(); }));
    }
    box.appendChild(head);
    group.items.forEach(function (item, position) {
      box.appendChild(item.items ? renderGroup(item, group, position, depth + 1) : renderCondition(item, group, position));
    });
    if (!readonly) {
      var actions = element("div", { "class": "seg-actions" });
      actions.appendChild(button(texts.addCondition, "seg-add-condition", function () { group.items.push(newCondition()); render(); }));
      if (depth < 3) {
        actions.appendChild(button(texts.addGroup, "seg-add-group", function () {
          group.items.push({ op: group.op === "and" ? "or" : "and", items: [newCondition()] }); render();
        }));
      }
      box.appendChild(actions);
    }
    return box;
  }

  function render() {
    root.replaceChildren(renderGroup(rule, null, 0, 1));
    hidden.value = JSON.stringify(rule);
  }

  function preview() {
    var ask = ++asked;
    if (!rule.items.length) { countBox.textContent = texts.empty; sampleBox.textContent = ""; return; }
    countBox.textContent = texts.counting;
    fetch(form.dataset.previewUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
      body: JSON.stringify({ rule: rule }),
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (ask !== asked) { return; }
      if (answer.ok) {
        countBox.textContent = answer.body.count_text;
        sampleBox.textContent = answer.body.sample.length ? texts.sample + answer.body.sample.join("、") : "";
        errorBox.textContent = "";
      } else {
        countBox.textContent = texts.failed;
        sampleBox.textContent = "";
        var fields = answer.body.fields || {};
        errorBox.textContent = Object.keys(fields).map(function (key) { return fields[key]; }).join("；") || answer.body.message;
      }
    }).catch(function () { if (ask === asked) { countBox.textContent = texts.failed; } });
  }

  function changed() {
    hidden.value = JSON.stringify(rule);
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }

  if (!rule.items) { rule = { op: "and", items: [] }; }
  render();
  if (rule.items.length) { preview(); }
  form.addEventListener("submit", function () { hidden.value = JSON.stringify(rule); });
})();
