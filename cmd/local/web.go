package main

import (
	"embed"
	"io/fs"
	"net/http"
)

// The console (/) and the API docs (/docs/) of the local stack. They are
// embedded here, in cmd/local only: no function binary carries them. The
// Swagger UI files are vendored (scripts/update-swagger-ui.sh) and nothing
// is loaded from the network.
//
//go:embed web
var webFiles embed.FS

func webHandler() http.Handler {
	root, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err)
	}
	files := http.FileServerFS(root)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", files) // index.html
	mux.Handle("GET /console.js", files)
	mux.Handle("GET /console.css", files)
	mux.HandleFunc("GET /docs/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, root, "docs.html")
	})
	mux.Handle("GET /docs/swagger-ui/", http.StripPrefix("/docs", files))
	return mux
}
