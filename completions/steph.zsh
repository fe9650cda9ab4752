
#compdef steph

_steph_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _STEPH_COMPLETE=complete_zsh steph)
}

compdef _steph_completion steph

