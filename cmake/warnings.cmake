# Compiler warnings for ncclrt's own targets; errors when NCCLRT_WARNINGS_AS_ERRORS is on (CI).
function(ncclrt_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C,CXX>:-Wall -Wextra -Wshadow -Wpedantic>
    $<$<AND:$<COMPILE_LANGUAGE:C,CXX>,$<BOOL:${NCCLRT_WARNINGS_AS_ERRORS}>>:-Werror>)
endfunction()
