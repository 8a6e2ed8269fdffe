// Drag-to-place editor of the poster layout: boxes for the avatar, nickname and QR code
// over the background; dragging a box writes its position (in background pixels) into
// the form's number inputs, and typing a number moves the box. No inline script or style
// attribute (strict CSP): positions are set through the CSSOM.
(function () {
  "use strict";
  var editor = document.getElementById("layout-editor");
  if (!editor) { return; }
  var stage = editor.querySelector(".layout-stage");
  var img = editor.querySelector("img.layout-bg");
  var fileInput = document.getElementById("id_poster_background");
  var NICK_WIDTH = 300;
  function input(name) { return document.getElementById("id_layout_" + name); }
  function num(name) { return parseInt(input(name).value, 10) || 0; }
  var boxes = {
    avatar: { el: editor.querySelector(".box-avatar"), x: "avatar_x", y: "avatar_y",
              size: function () { return [num("avatar_size"), num("avatar_size")]; } },
    nickname: { el: editor.querySelector(".box-nickname"), x: "nickname_x", y: "nickname_y",
                size: function () { return [NICK_WIDTH, Math.round(num("nickname_size") * 1.5)]; } },
    qr: { el: editor.querySelector(".box-qr"), x: "qr_x", y: "qr_y",
          size: function () { return [num("qr_size"), num("qr_size")]; } }
  };
  function scale() { return img.naturalWidth ? img.clientWidth / img.naturalWidth : 0; }
  function place() {
    var s = scale();
    if (!s) { return; }
    Object.keys(boxes).forEach(function (key) {
      var b = boxes[key], size = b.size();
      b.el.style.left = (num(b.x) * s) + "px";
      b.el.style.top = (num(b.y) * s) + "px";
      b.el.style.width = (size[0] * s) + "px";
      b.el.style.height = (size[1] * s) + "px";
      b.el.hidden = false;
    });
  }
  Object.keys(boxes).forEach(function (key) {
    var b = boxes[key];
    b.el.addEventListener("pointerdown", function (down) {
      down.preventDefault();
      b.el.setPointerCapture(down.pointerId);
      var s = scale(), startX = down.clientX, startY = down.clientY, x0 = num(b.x), y0 = num(b.y);
      function move(ev) {
        var size = b.size();
        var x = Math.round(x0 + (ev.clientX - startX) / s), y = Math.round(y0 + (ev.clientY - startY) / s);
        x = Math.max(0, Math.min(x, img.naturalWidth - size[0]));
        y = Math.max(0, Math.min(y, img.naturalHeight - size[1]));
        input(b.x).value = x;
        input(b.y).value = y;
        place();
      }
      function up() {
        b.el.removeEventListener("pointermove", move);
        b.el.removeEventListener("pointerup", up);
      }
      b.el.addEventListener("pointermove", move);
      b.el.addEventListener("pointerup", up);
    });
  });
  editor.closest("form").addEventListener("input", function (ev) {
    if (ev.target.id && ev.target.id.indexOf("id_layout_") === 0) { place(); }
  });
  if (fileInput) {
    fileInput.addEventListener("change", function () {
      if (fileInput.files && fileInput.files[0]) {
        img.src = URL.createObjectURL(fileInput.files[0]);
        stage.hidden = false;
      }
    });
  }
  img.addEventListener("load", place);
  window.addEventListener("resize", place);
  if (img.getAttribute("src")) { stage.hidden = false; if (img.complete) { place(); } }
})();
