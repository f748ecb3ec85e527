package main

// smokeMain is the short form: one path, UDT and TCP, a few seconds each.
func smokeMain(args []string) error {
	return runMain(append([]string{"-rtts", "50", "-losses", "0.1", "-contenders", "udt,udt-cpp,tcp",
		"-warmup", "1s", "-d", "3s"}, args...))
}
