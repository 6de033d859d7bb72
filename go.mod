module github.com/registry-checks/registry-checks

go 1.26

require (
	github.com/go-kivik/kivik/v4 v4.5.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/influxdata/line-protocol/v2 v2.2.1 // indirect
	github.com/jessevdk/go-flags v1.6.1 // indirect
	github.com/mackerelio/checkers v0.2.1 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/net v0.35.0 // indirect
	golang.org/x/sync v0.11.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
)
