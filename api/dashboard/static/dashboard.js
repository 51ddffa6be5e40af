// The dashboard's own behaviour, beside htmx: copying a new API key, and uploads that start
// on choosing or dropping a file, refuse a file over the plan's limit before sending a byte,
// and show their progress. No inline script anywhere: the pages' CSP allows none.
(function () {
  "use strict";

  // As the server writes sizes (core.files.human_bytes): binary units, one decimal.
  function humanBytes(n) {
    var units = [["GB", Math.pow(1024, 3)], ["MB", Math.pow(1024, 2)], ["KB", 1024]];
    for (var i = 0; i < units.length; i += 1) {
      if (n >= units[i][1]) return (n / units[i][1]).toFixed(1).replace(/\.0$/, "") + " " + units[i][0];
    }
    return n + " bytes";
  }

  function setStatus(form, text, isError) {
    var status = form.querySelector("[role=status]");
    if (!status) return;
    status.textContent = "";
    var p = document.createElement("p");
    p.className = isError ? "error" : "upload-busy";
    p.textContent = text;
    status.appendChild(p);
  }

  // Copy buttons: data-copy names the field whose value is copied.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    var done = function () {
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    var fallback = function () {
      field.select();
      document.execCommand("copy");
      done();
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, fallback);
    } else {
      fallback();
    }
  });

  // Uploads: choosing a file sends it at once.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("form[data-upload] input[type=file]")) return;
    if (input.files && input.files.length) input.form.requestSubmit();
  });

  function dropzoneOf(event) {
    return event.target.closest ? event.target.closest("[data-dropzone]") : null;
  }
  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = dropzoneOf(event);
      if (!zone) return;
      event.preventDefault();
      zone.classList.add("dragover");
    });
  });
  document.addEventListener("dragleave", function (event) {
    var zone = dropzoneOf(event);
    if (zone) zone.classList.remove("dragover");
  });
  document.addEventListener("drop", function (event) {
    var zone = dropzoneOf(event);
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("dragover");
    var input = zone.querySelector("input[type=file]");
    if (!input || !event.dataTransfer || !event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    input.form.requestSubmit();
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-upload]")) return;
    var input = form.querySelector("input[type=file]");
    var file = input && input.files && input.files[0];
    var max = Number(input && input.getAttribute("data-max-bytes"));
    if (file && max && file.size > max) {
      event.preventDefault();
      setStatus(form, file.name + " is " + humanBytes(file.size) + ": over your plan's limit of " +
        humanBytes(max) + " a file.", true);
      input.value = "";
      return;
    }
    var progress = form.querySelector("progress");
    if (progress) { progress.value = 0; progress.hidden = false; }
    if (file) setStatus(form, "Uploading " + file.name + "…", false);
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-upload]")) return;
    var progress = form.querySelector("progress");
    if (progress && event.detail.total) {
      progress.value = Math.round((100 * event.detail.loaded) / event.detail.total);
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-upload]")) return;
    var progress = form.querySelector("progress");
    if (progress) progress.hidden = true;
    var input = form.querySelector("input[type=file]");
    if (input) input.value = "";
    if (!event.detail.successful && !event.detail.xhr.status) {
      setStatus(form, "The upload was interrupted; try again.", true);
    }
  });
})();
