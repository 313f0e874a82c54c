/* The two OpenSSL shim libraries (agent/sinks/ssl_shim.c), embedded in the binary. */
	.section .rodata
	.balign 16
	.global nh_ssl_shim_start, nh_ssl_shim_end, nh_crypto_shim_start, nh_crypto_shim_end
nh_ssl_shim_start:
	.incbin "nh-ssl-shim.so"
nh_ssl_shim_end:
	.balign 16
nh_crypto_shim_start:
	.incbin "nh-crypto-shim.so"
nh_crypto_shim_end:
	.section .note.GNU-stack,"",@progbits
