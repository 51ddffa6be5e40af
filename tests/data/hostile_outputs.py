# A job whose outputs try every way to run script in a page that shows them (the dashboard's
# tests run it). Each attempt would log a PWNED marker, open a dialog or make a request to
# the "beacon" host; none may.
from IPython.display import HTML, SVG, Javascript, Markdown, display

BEACON = "http://beacon.invalid"
print("<script>console.log('PWNED-stdout'); alert('PWNED-stdout')</script>")
display(
    HTML(
        "<b>bold</b><script>console.log('PWNED-html'); alert('PWNED-html')</script>"
        "<img src=x onerror=\"console.log('PWNED-img'); alert('PWNED-img')\">"
        f"<img src='{BEACON}/img'><iframe src='{BEACON}/frame'></iframe>"
        "<a id='pwned-link' href=\"javascript:console.log('PWNED-href')\">a javascript: link</a>"
        "<style>body { background: url(" + BEACON + "/css) }</style>"
        "<form action='" + BEACON + "/form'><button>send</button></form>"
    )
)
display(
    Markdown(
        "[a markdown javascript: link](javascript:console.log('PWNED-md')) "
        "<script>console.log('PWNED-md2')</script> ![beacon](" + BEACON + "/md.png)"
    )
)
display(
    SVG(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" '
        "onload=\"console.log('PWNED-svg-onload')\">"
        "<script>console.log('PWNED-svg'); alert('PWNED-svg')</script>"
        '<circle cx="20" cy="20" r="18" fill="teal"/></svg>'
    )
)
display(Javascript("console.log('PWNED-js'); alert('PWNED-js')"))
"<i>done</i><script>console.log('PWNED-result')</script>"
