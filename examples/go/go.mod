module github.com/lb-project/lb/examples/go

go 1.20
