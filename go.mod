module github.com/gatehouse-proxy/gatehouse

go 1.26.8
