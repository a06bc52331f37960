//! The upload page, and the link the listings get to it.

use crate::static_files::attribute_escape;

/// `uploadserver`'s upload page (its form, field name and script), styled as the listing.
pub(crate) fn upload_page(page_path: &str) -> String {
    let action = attribute_escape(page_path);
    format!(
        r#"<!DOCTYPE HTML>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<style type="text/css">
:root {{
color-scheme: light dark;
}}
</style>
<title>File Upload</title>
</head>
<body>
<h1>File Upload</h1>
<hr>
<form action="{action}" method="POST" enctype="multipart/form-data">
<input name="files" type="file" multiple>
<input type="submit" value="Upload">
</form>
<p id="task"></p>
<p id="status"></p>
<hr>
<a href="/">Back to the files</a>
<script>
document.forms[0].addEventListener("submit", event => {{
  event.preventDefault();
  const form = new FormData(event.target);
  const names = form.getAll("files").map(file => file.name).join(", ");
  const request = new XMLHttpRequest();
  const status = document.getElementById("status");
  request.open("POST", event.target.action);
  request.upload.onprogress = e => {{
    status.textContent = e.loaded === e.total ? "Saving…" :
      `${{Math.floor(100 * e.loaded / e.total)}}% [${{Math.floor(e.loaded / 1024)}} / ${{Math.floor(e.total / 1024)}} KiB]`;
  }};
  request.onloadend = () => {{
    status.textContent = request.status === 0 ? "Connection failed" :
      request.status === 204 ? `Success: ${{request.statusText}}` :
      `${{request.status}}: ${{request.statusText}}`;
  }};
  request.send(form);
  document.getElementById("task").textContent = `Uploading ${{names}}:`;
  status.textContent = "0%";
}});
</script>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_posts_to_the_page() {
        assert!(upload_page("/up\"load").contains(r#"<form action="/up&quot;load" method="POST""#));
    }
}
