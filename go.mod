module github.com/nfstream-go/nfstream

go 1.26
