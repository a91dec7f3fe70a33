module example.com/pluginhost

go 1.19
