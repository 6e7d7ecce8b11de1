import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { createApi } from './api';

const target = document.getElementById('app');
if (!target) throw new Error('#app missing from index.html');

createApi().then((api) => mount(App, { target, props: { api } }));
