# AddressSanitizer + UndefinedBehaviorSanitizer for every target when SLUICE_SANITIZE is on.
if(SLUICE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
